"""A UniCT run through the real server on loopback: the study's masks (NIfTI on the CT's grid,
as ``hyperct predict`` writes them), its report, the masks as DICOM-SEG referencing the input
series, the client and ``hyperct submit``; a findings-only run answers 404 for all of them."""

import json

import httpx
import nibabel as nib
import numpy as np
import pydicom
import pytest

from hyperct.data.cache import MASK_CHANNELS
from hyperct.io.orientation import to_canonical
from hyperct.serve.client import Client, ServiceError
from hyperct.tasks import TASK_NAMES

pytestmark = pytest.mark.slow  # a UniCT pass with its report on two real CTs


def test_a_unict_study_has_the_masks_and_report_hyperct_predict_writes(served_unict, real_ct, tmp_path):
    from hyperct.inference.scans import segment_scans

    unict, _, server = served_unict
    scan = real_ct / "ts_chest_crop.nii.gz"
    with server() as url, Client(url) as client:
        study = client.submit(scan)
        result = client.wait(study)
        masks = client.masks(study, tmp_path / "masks.nii.gz")
        report = client.report(study)
        head = httpx.get(f"{url}/v1/studies/{study}/masks")
        text = httpx.get(f"{url}/v1/studies/{study}/report")
        models = client.models()
    probs, reports = segment_scans(paths=[scan], checkpoint=unict.path, out_dir=tmp_path / "predict",
                                   device="cpu")
    expected = nib.load(tmp_path / "predict" / "masks" / "ts_chest_crop.nii.gz")
    served = nib.load(masks)
    source = nib.load(scan)
    categories = result["masks"]["categories"]
    assert [c["name"] for c in categories] == list(MASK_CHANNELS)
    assert [c["channel"] for c in categories] == list(range(len(MASK_CHANNELS)))
    assert json.loads(head.headers["x-mask-categories"]) == list(MASK_CHANNELS)
    assert served.shape == (*source.shape, len(MASK_CHANNELS)) and served.get_data_dtype() == np.uint8
    np.testing.assert_allclose(served.affine, source.affine, atol=1e-5)
    values = np.asarray(served.dataobj)
    np.testing.assert_array_equal(values, np.asarray(expected.dataobj))
    assert [c["voxels"] for c in categories] == values.reshape(-1, values.shape[-1]).sum(0).tolist()
    assert any(c["voxels"] for c in categories)
    assert report == result["report"] == reports.iloc[0]["report"]
    assert text.headers["content-type"].startswith("text/plain") and text.text == report
    got = {f["task"]: f["probability"] for f in result["findings"]}
    np.testing.assert_allclose([got[t] for t in TASK_NAMES], probs.iloc[0][list(TASK_NAMES)], atol=1e-5)
    assert result["timings_s"]["total"] >= result["timings_s"]["masks"] > 0
    by_name = {m["name"]: m for m in models}
    assert by_name[unict.name]["mask_categories"] == list(MASK_CHANNELS) and by_name[unict.name]["writes_report"]


def test_a_findings_only_run_says_it_has_no_masks_or_report(served_unict, real_ct):
    _, hyper, server = served_unict
    with server() as url, Client(url) as client:
        study = client.submit(real_ct / "ts_example_ct_sm.nii.gz", model=hyper.name)
        result = client.wait(study)
        answers = {what: httpx.get(f"{url}/v1/studies/{study}/{what}") for what in ("masks", "report", "seg")}
        with pytest.raises(ServiceError, match="no report") as err:
            client.report(study)
    assert result["masks"] is None and result["report"] is None
    assert err.value.status == 404
    for what, answer in answers.items():
        assert answer.status_code == 404, what
        message = answer.json()["error"]
        assert f"model {hyper.name!r}" in message and "findings only" in message and "UniCT" in message


def test_masks_of_a_dicom_study_come_as_dicom_seg_referencing_its_series(served_unict, real_ct, tmp_path):
    from dicom_helpers import write_referenced_series

    _, _, server = served_unict
    series = tmp_path / "series"
    study_uid, series_uid = write_referenced_series(real_ct, series, sop_uids=True)
    with server() as url, Client(url) as client:
        study = client.submit(series)
        result = client.wait(study)
        seg_path = client.download(study, "seg", tmp_path / "seg.dcm")
        masks = client.masks(study, tmp_path / "masks.nii.gz")
        nifti = client.submit(real_ct / "ts_example_ct_sm.nii.gz")
        client.wait(nifti)
        refused = httpx.get(f"{url}/v1/studies/{nifti}/seg")
    seg = pydicom.dcmread(seg_path)
    names = [c["name"] for c in result["masks"]["categories"]]
    assert seg.Modality == "SEG" and seg.StudyInstanceUID == study_uid
    assert [s.SegmentLabel for s in seg.SegmentSequence] == names
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series_uid
    image = nib.load(masks)
    canonical, _, _ = to_canonical(np.asarray(image.dataobj), image.affine)  # (z, y, x, category)
    assert canonical.shape == (20, 512, 512, len(names))
    assert int(seg.NumberOfFrames) == int(canonical.any(axis=(1, 2)).sum())  # non-empty slices only
    assert int(seg.pixel_array.sum()) == int(canonical.sum())
    inputs = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in series.glob("*.dcm")}
    referenced = {s.ReferencedSOPInstanceUID for frame in seg.PerFrameFunctionalGroupsSequence
                  for s in frame.DerivationImageSequence[0].SourceImageSequence}
    assert referenced and referenced <= inputs
    assert refused.status_code == 409 and "needs a DICOM input" in refused.json()["error"]


def test_submit_writes_the_masks_and_report_beside_the_results(served_unict, real_ct, tmp_path, capsys):
    from hyperct.cli.main import main

    _, _, server = served_unict
    out = tmp_path / "results" / "results.json"
    out.parent.mkdir()
    with server() as url:
        code = main(["submit", str(real_ct / "ts_chest_crop.nii.gz"), "--url", url, "--out", str(out)])
    capsys.readouterr()
    result = json.loads(out.read_text())[str(real_ct / "ts_chest_crop.nii.gz")]
    study = result["id"]
    assert code == 0
    assert result["files"] == {"masks": str(out.parent / f"{study}_masks.nii.gz"),
                               "report": str(out.parent / f"{study}_report.txt")}
    assert (out.parent / f"{study}_report.txt").read_text() == result["report"]
    mask = nib.load(out.parent / f"{study}_masks.nii.gz")
    assert mask.shape == (*nib.load(real_ct / "ts_chest_crop.nii.gz").shape, len(MASK_CHANNELS))
