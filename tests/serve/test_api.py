"""The service through a real uvicorn server on loopback: uploads, results, outputs, refusals."""

import hashlib
import json
import io
import zipfile

import httpx
import nibabel as nib
import numpy as np
import pytest

from hyperct.io.read import read_ct
from hyperct.serve.client import Client, ServiceError
from hyperct.serve.uploads import UploadLimits
from hyperct.tasks import TASK_NAMES


def test_nifti_upload_gives_25_findings_with_operating_points(served, real_ct, tmp_path):
    run, server = served
    scan = real_ct / "ts_example_ct_sm.nii.gz"
    with server() as url, Client(url) as client:
        result = client.wait(client.submit(scan), timeout_s=120)
        image = client.download(result["id"], "image", tmp_path / "ct.nii")
    assert [f["task"] for f in result["findings"]] == list(TASK_NAMES)
    for finding in result["findings"]:
        assert 0 <= finding["probability"] <= 1 and 0 < finding["threshold"] < 1
        assert finding["positive"] == (finding["probability"] >= finding["threshold"])
        assert finding["group"] in ("conventional", "opportunistic")
    assert {f["threshold_source"] for f in result["findings"]} <= {"val_youden", "fallback_0.5_val_one_class",
                                                                    "fallback_0.5_no_val_rows"}
    best = (run.path / "best.pt").read_bytes()
    assert result["model"]["checkpoint_sha256"] == hashlib.sha256(best).hexdigest()
    assert result["model"]["preprocessing"] == json.loads(json.dumps(run.spec_dict))
    assert result["qc_flags"] == []
    assert result["timings_s"]["total"] >= result["timings_s"]["model"] > 0
    original, served_image = read_ct(scan), read_ct(image)
    np.testing.assert_array_equal(served_image.array, original.array)
    np.testing.assert_allclose(served_image.affine, original.affine, atol=1e-5)


def test_probabilities_equal_hyperct_predict_on_the_same_file(served, real_ct, trained_run):
    from hyperct.inference.scans import predict_scans

    _, server = served
    scan = real_ct / "ts_example_ct_sm.nii.gz"
    expected = predict_scans(paths=[scan], checkpoint=trained_run, device="cpu").iloc[0]
    with server() as url, Client(url) as client:
        result = client.wait(client.submit(scan))
    got = {f["task"]: f["probability"] for f in result["findings"]}
    np.testing.assert_allclose([got[t] for t in TASK_NAMES], expected[list(TASK_NAMES)], atol=1e-5)


def test_contrast_ct_is_flagged_and_dicom_uploads_work(served, real_ct):
    _, server = served
    series = sorted((real_ct / "dicom_series").glob("*.dcm"))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for path in series:
            z.write(path, f"series/{path.name}")
    with server() as url, Client(url) as client:
        contrast = client.wait(client.submit(real_ct / "ts_chest_crop.nii.gz"))
        zipped = httpx.post(f"{url}/v1/studies", files={"files": ("s.zip", archive.getvalue())}).json()
        folder = client.wait(client.submit(real_ct / "dicom_series"))
        from_zip = client.wait(zipped["id"])
    assert [f["code"] for f in contrast["qc_flags"]] == ["contrast"]
    assert "contrast-enhanced" in contrast["qc_flags"][0]["message"]
    assert folder["input"]["kind"] == "dicom-files" and from_zip["input"]["kind"] == "dicom-zip"
    assert folder["input"]["shape"] == from_zip["input"]["shape"] == [20, 512, 512]
    assert [f["probability"] for f in folder["findings"]] == [f["probability"] for f in from_zip["findings"]]


def test_saliency_is_a_nifti_on_the_ct_grid(served, real_ct, tmp_path):
    _, server = served
    scan = real_ct / "ts_example_ct_sm.nii.gz"
    with server() as url, Client(url) as client:
        study = client.submit(scan)
        client.wait(study)
        path = client.download(study, "saliency/Cardiomegaly", tmp_path / "sal.nii.gz")
        ct = client.download(study, "image", tmp_path / "ct.nii")
        with pytest.raises(ServiceError, match="not a task of model") as err:
            client.download(study, "saliency/Nothing", tmp_path / "x.nii.gz")
    assert err.value.status == 404
    saliency, image = nib.load(path), nib.load(ct)
    assert saliency.shape == image.shape
    np.testing.assert_allclose(saliency.affine, image.affine, atol=1e-5)
    values = np.asarray(saliency.dataobj)
    assert values.min() >= 0 and values.max() <= 1 and values.max() > 0


def test_bad_requests_get_json_4xx_naming_the_problem(served, real_ct, tmp_path):
    _, server = served
    data = (real_ct / "ts_example_ct_sm.nii.gz").read_bytes()
    slip = io.BytesIO()
    with zipfile.ZipFile(slip, "w") as z:
        z.writestr("../../../etc/evil.dcm", b"x" * 200)
    with server(limits=UploadLimits(max_bytes=3_000_000)) as url:
        post = lambda files: httpx.post(f"{url}/v1/studies", files=files, timeout=60)  # noqa: E731
        cases = {
            "truncated": post({"files": ("cut.nii.gz", data[: len(data) // 3])}),
            "zip slip": post({"files": ("slip.zip", slip.getvalue())}),
            "text": post({"files": ("notes.txt", b"not a scan at all " * 20)}),
            "oversize": post({"files": ("big.nii", b"\x00" * 4_000_000)}),
            "no files": httpx.post(f"{url}/v1/studies", data={"x": "1"}),
            "unknown model": httpx.post(f"{url}/v1/studies?model=nope", files={"files": ("a.nii.gz", data)}),
            "unknown study": httpx.get(f"{url}/v1/studies/{'A' * 22}"),
            "not an id": httpx.get(f"{url}/v1/studies/..%2F..%2Fetc"),
        }
    expected = {"truncated": (400, "not a readable NIfTI"), "zip slip": (400, "points outside the archive"),
                "text": (400, "neither NIfTI"), "oversize": (413, "larger than"),
                "no files": (422, "files"), "unknown model": (404, "no model 'nope'"),
                "unknown study": (404, "no study"), "not an id": (404, "")}
    for name, response in cases.items():
        status, text = expected[name]
        assert response.status_code == status, (name, response.text)
        body = response.json()
        assert text in body["error"], (name, body)
        assert "Traceback" not in response.text


def test_status_request_waits_for_the_study_to_settle(served, real_ct):
    import time

    _, server = served
    with server() as url, Client(url) as client:
        study = client.submit(real_ct / "ts_example_ct_sm.nii.gz")
        start = time.monotonic()
        settled = httpx.get(f"{url}/v1/studies/{study}", params={"wait": 55}, timeout=60).json()
        waited = time.monotonic() - start
        again = httpx.get(f"{url}/v1/studies/{study}", params={"wait": 55}, timeout=60)
        unknown = httpx.get(f"{url}/v1/studies/{'x' * 22}", params={"wait": 55}, timeout=60)
        too_long = httpx.get(f"{url}/v1/studies/{study}", params={"wait": 3600})
    assert settled["status"] == "done" and waited < 55
    assert again.json()["status"] == "done" and again.elapsed.total_seconds() < 5
    assert unknown.status_code == 404 and unknown.elapsed.total_seconds() < 5
    assert too_long.status_code == 422 and "wait" in too_long.json()["error"]


def test_non_ct_values_fail_the_study_with_the_reason(served, tmp_path):
    _, server = served
    scan = tmp_path / "mri_like.nii.gz"
    values = np.random.default_rng(0).random((20, 40, 40)).astype(np.float32)  # 0..1, not HU
    nib.save(nib.Nifti1Image(values, np.diag([1.0, 1.0, 2.0, 1.0])), scan)
    with server() as url, Client(url) as client:
        study = client.submit(scan)
        with pytest.raises(ServiceError, match="not plausible CT"):
            client.wait(study)
        status = client.status(study)
        with pytest.raises(ServiceError) as err:
            client.result(study)
    assert status["status"] == "failed" and str(tmp_path) not in status["error"]
    assert err.value.status == 409


def test_token_is_required_when_configured(served, real_ct):
    _, server = served
    with server(token="s3cret") as url:
        assert httpx.get(f"{url}/v1/models").status_code == 401
        assert httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(f"{url}/healthz").status_code == 200
        with Client(url, token="s3cret") as client:
            assert client.models()[0]["tasks"] == list(TASK_NAMES)
            assert client.wait(client.submit(real_ct / "ts_example_ct_sm.nii.gz"))["findings"]


def test_binding_beyond_loopback_needs_a_token(trained_run, tmp_path):
    from hyperct.serve.config import ServeConfig, ServeConfigError

    with pytest.raises(ServeConfigError, match="API token"):
        ServeConfig(runs=(trained_run,), data_dir=tmp_path, host="0.0.0.0")
    assert ServeConfig(runs=(trained_run,), data_dir=tmp_path, host="0.0.0.0", token="t").token == "t"


def test_models_health_docs_and_the_viewer_page(served):
    run, server = served
    with server() as url:
        models = httpx.get(f"{url}/v1/models").json()
        health = httpx.get(f"{url}/healthz").json()
        openapi = httpx.get(f"{url}/openapi.json").json()
        docs = httpx.get(f"{url}/docs")
        page = httpx.get(f"{url}/")
        bundle = httpx.get(f"{url}/static/vendor/niivue.umd.js")
    assert models[0]["name"] == run.name and set(models[0]["operating_points"]) == set(TASK_NAMES)
    assert health == {"status": "ok", "models": [run.name], "waiting": 0}
    assert {"/v1/studies", "/v1/studies/{job_id}/result", "/v1/models"} <= set(openapi["paths"])
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert page.status_code == 200 and "niivue.umd.js" in page.text and "cdn" not in page.text.lower()
    assert bundle.status_code == 200 and len(bundle.content) > 1_000_000


def test_dicom_input_gives_an_sr_and_a_findings_json_referencing_its_study(served, real_ct, tmp_path):
    import pydicom
    from dicom_helpers import write_referenced_series

    _, server = served
    series = tmp_path / "series"
    study_uid, series_uid = write_referenced_series(real_ct, series)
    with server() as url, Client(url) as client:
        study = client.submit(series)
        result = client.wait(study)
        mapped = httpx.get(f"{url}/v1/studies/{study}/findings.json").json()
        sr = client.download(study, "sr", tmp_path / "sr.dcm")
        nifti = client.submit(real_ct / "ts_example_ct_sm.nii.gz")
        client.wait(nifti)
        refused = httpx.get(f"{url}/v1/studies/{nifti}/sr")
        blank = client.submit(real_ct / "dicom_series")
        client.wait(blank)
        no_uids = httpx.get(f"{url}/v1/studies/{blank}/sr")
    assert mapped["dicom"]["study_instance_uid"] == study_uid
    assert [f["task"] for f in mapped["findings"]] == [f["task"] for f in result["findings"]]
    report = pydicom.dcmread(sr)
    assert report.Modality == "SR" and report.StudyInstanceUID == study_uid
    assert refused.status_code == 409 and "needs a DICOM input" in refused.json()["error"]
    assert no_uids.status_code == 409 and "UID" in no_uids.json()["error"]


def test_submit_command_prints_findings_and_exits_1_for_a_refused_scan(served, real_ct, tmp_path, capsys):
    from hyperct.cli.main import main

    _, server = served
    bad = tmp_path / "notes.nii"
    bad.write_bytes(b"plain text, not a scan" * 50)
    out = tmp_path / "results.json"
    with server() as url:
        ok = main(["submit", str(real_ct / "ts_chest_crop.nii.gz"), "--url", url, "--out", str(out)])
        printed = capsys.readouterr()
        failed = main(["submit", str(bad), str(real_ct / "ts_example_ct_sm.nii.gz"), "--url", url])
        refused = capsys.readouterr()
    assert ok == 0 and "positive:" in printed.out and "[QC: looks contrast-enhanced" in printed.out
    assert list(json.loads(out.read_text())) == [str(real_ct / "ts_chest_crop.nii.gz")]
    assert failed == 1 and "neither NIfTI" in refused.err and "ts_example_ct_sm" in refused.out
