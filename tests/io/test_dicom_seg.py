"""write_dicom_seg: frames reference the source slice at their position; masks round-trip exactly."""

import zipfile
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.uid import SegmentationStorage

from hyperct import read_ct
from hyperct.io.dicom_seg import write_dicom_seg
from hyperct.io.dicom_source import DerivedIds, open_dicom_source
from hyperct.io.errors import DicomOutputError
from hyperct.io.orientation import spacing_from_affine
from hyperct.io.volume import Volume
from hyperct.io.write import write_dicom_series

ALGORITHM = {"algorithm_name": "hyperct-test", "algorithm_version": "0.1"}


@pytest.fixture(scope="module")
def ct(referenced_series: Path) -> Volume:
    return read_ct(referenced_series)


def _box_and_sphere(shape: tuple[int, int, int]) -> np.ndarray:
    z, y, x = np.indices(shape)
    box = (z >= 3) & (z <= 7) & (y >= 100) & (y < 180) & (x >= 60) & (x < 300)
    sphere = (z - 12) ** 2 + ((y - 300) / 20) ** 2 + ((x - 250) / 20) ** 2 <= 16
    return np.stack([box, sphere])


def _source_files(folder: Path) -> dict[str, pydicom.Dataset]:
    """Source slices by SOP Instance UID (the file meta's where the data set's is blank)."""
    out = {}
    for path in folder.iterdir():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        out[ds.SOPInstanceUID or ds.file_meta.MediaStorageSOPInstanceUID] = ds
    return out


def _frame_uid(frame: pydicom.Dataset) -> str:
    return frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID


def _canonical_masks(seg: pydicom.Dataset, ct: Volume) -> np.ndarray:
    """Rebuild the masks on ``ct``'s grid from each frame's world geometry alone."""
    shared = seg.SharedFunctionalGroupsSequence[0]
    iop = np.asarray(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    row_gap, col_gap = (float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing)
    pixels = seg.pixel_array.reshape(int(seg.NumberOfFrames), seg.Rows, seg.Columns)
    world_to_index = np.linalg.inv(ct.affine)
    out = np.zeros((len(seg.SegmentSequence), *ct.shape), dtype=bool)
    for frame, item in zip(pixels, seg.PerFrameFunctionalGroupsSequence):
        rows, cols = np.nonzero(frame)
        ipp = np.asarray(item.PlanePositionSequence[0].ImagePositionPatient, float)
        lps = ipp + np.outer(cols * col_gap, iop[:3]) + np.outer(rows * row_gap, iop[3:])
        ras = np.c_[lps * [-1, -1, 1], np.ones(len(lps))]
        index = (world_to_index @ ras.T)[:3]
        np.testing.assert_allclose(index, np.rint(index), atol=1e-3)
        k, j, i = np.rint(index).astype(int)
        segment = (
            item.get("SegmentIdentificationSequence") or shared.SegmentIdentificationSequence
        )[0]
        out[segment.ReferencedSegmentNumber - 1, k, j, i] = True
    return out


def test_seg_of_real_series_references_slices_by_position(
    referenced_series: Path, ct: Volume, tmp_path: Path
) -> None:
    masks = _box_and_sphere(ct.shape)
    out = write_dicom_seg(
        masks,
        referenced_series,
        tmp_path / "seg.dcm",
        segment_labels=["box", "sphere"],
        **ALGORITHM,
    )
    seg = pydicom.dcmread(out)
    sources = _source_files(referenced_series)
    first = next(iter(sources.values()))
    assert seg.SOPClassUID == SegmentationStorage and seg.SegmentationType == "BINARY"
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["box", "sphere"]
    assert {s.SegmentAlgorithmType for s in seg.SegmentSequence} == {"AUTOMATIC"}
    assert seg.StudyInstanceUID == first.StudyInstanceUID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == first.SeriesInstanceUID
    assert all(ds.SOPInstanceUID == "" for ds in sources.values())
    for item in seg.PerFrameFunctionalGroupsSequence:
        source = sources[_frame_uid(item)]
        np.testing.assert_allclose(
            item.PlanePositionSequence[0].ImagePositionPatient, source.ImagePositionPatient
        )
    np.testing.assert_array_equal(_canonical_masks(seg, ct), masks)
    assert int(seg.NumberOfFrames) == 5 + int(masks[1].any(axis=(1, 2)).sum())


def test_segread_reads_segments_and_source_uids(
    referenced_series: Path, ct: Volume, tmp_path: Path
) -> None:
    ids = DerivedIds(series_instance_uid="1.2.3.4.5", sop_instance_uid="1.2.3.4.6")
    out = write_dicom_seg(
        _box_and_sphere(ct.shape),
        open_dicom_source(referenced_series),
        tmp_path / "seg.dcm",
        segment_labels=["box", "sphere"],
        ids=ids,
        **ALGORITHM,
    )
    seg = hd.seg.segread(out)
    assert seg.number_of_segments == 2 and seg.SOPInstanceUID == "1.2.3.4.6"
    assert seg.SeriesInstanceUID == "1.2.3.4.5"
    assert seg.get_segment_description(1).SegmentedPropertyTypeCodeSequence[0].CodeMeaning == (
        "Lesion"
    )
    series_uid = pydicom.dcmread(next(referenced_series.iterdir())).SeriesInstanceUID
    assert {uids[1] for uids in seg.get_source_image_uids()} == {series_uid}


def test_orientation_and_file_order_do_not_move_the_mask(ct: Volume, tmp_path: Path) -> None:
    """A series stored superior-first with rows running left->right still round-trips exactly."""
    affine = ct.affine.copy()
    affine[:3, 1:3] *= 2
    canonical = Volume(
        ct.array[4:12, 100:140:2, 80:140:2].copy(), spacing_from_affine(affine), affine
    )
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1, canonical.shape[0] - 1
    flip[2, 2], flip[2, 3] = -1, canonical.shape[2] - 1
    stored = Volume(
        canonical.array[::-1, :, ::-1].copy(), canonical.spacing, canonical.affine @ flip
    )
    folder = write_dicom_series(
        stored,
        tmp_path / "flipped",
        patient_id="Flipped^Test",
        study_uid="1.2.3",
        series_uid="1.2.4",
    )
    back = read_ct(folder)
    np.testing.assert_array_equal(back.array, canonical.array)
    masks = np.zeros((1, *back.shape), dtype=bool)
    masks[0, 1:3, 2:9, 3:5] = True
    out = write_dicom_seg(
        masks, folder, tmp_path / "seg.dcm", segment_labels=["corner"], **ALGORITHM
    )
    np.testing.assert_array_equal(_canonical_masks(pydicom.dcmread(out), back), masks)


def test_probabilities_are_thresholded_and_an_empty_segment_is_kept(
    referenced_series: Path, ct: Volume, tmp_path: Path
) -> None:
    probability = np.zeros(ct.shape, dtype=np.float32)
    probability[10, 200:210, 200:220] = 0.7
    probability[11, 200:210, 200:220] = 0.3
    out = write_dicom_seg(
        [probability, np.zeros(ct.shape, dtype=np.uint8)],
        referenced_series,
        tmp_path / "seg.dcm",
        segment_labels=["finding", "nothing"],
        threshold=0.5,
        **ALGORITHM,
    )
    seg = pydicom.dcmread(out)
    assert len(seg.SegmentSequence) == 2
    back = _canonical_masks(seg, ct)
    np.testing.assert_array_equal(back[0], probability >= 0.5)
    assert not back[1].any()


def test_wrong_mask_shape_names_both_shapes(referenced_series: Path, tmp_path: Path) -> None:
    with pytest.raises(DicomOutputError, match=r"\(20, 256, 256\).*\(20, 512, 512\)"):
        write_dicom_seg(
            np.zeros((20, 256, 256), dtype=bool),
            referenced_series,
            tmp_path / "seg.dcm",
            segment_labels=["small"],
            **ALGORITHM,
        )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("mask", "labels", "message"),
    [
        (np.full((20, 512, 512), 2, dtype=np.uint8), ["a"], "0/1"),
        (np.full((20, 512, 512), 1.5, dtype=np.float32), ["a"], r"\[0, 1\]"),
        (np.zeros((20, 512, 512), dtype=bool), ["a", "b"], "one label per mask"),
        (np.zeros((20, 512, 512), dtype=bool), "a", "list of labels"),
    ],
)
def test_bad_masks_are_refused(
    referenced_series: Path, tmp_path: Path, mask: np.ndarray, labels: list[str], message: str
) -> None:
    with pytest.raises(DicomOutputError, match=message):
        write_dicom_seg(
            mask, referenced_series, tmp_path / "s.dcm", segment_labels=labels, **ALGORITHM
        )


def test_series_without_study_uid_is_refused(real_ct: Path, tmp_path: Path) -> None:
    with pytest.raises(DicomOutputError, match="no StudyInstanceUID"):
        write_dicom_seg(
            np.zeros((20, 512, 512), dtype=bool),
            real_ct / "dicom_series",
            tmp_path / "seg.dcm",
            segment_labels=["a"],
            **ALGORITHM,
        )


def test_nifti_source_is_refused_with_the_way_out(real_ct: Path, tmp_path: Path) -> None:
    with pytest.raises(DicomOutputError, match="write_dicom_series"):
        write_dicom_seg(
            np.zeros((30, 101, 122), dtype=bool),
            real_ct / "ts_example_ct_sm.nii.gz",
            tmp_path / "seg.dcm",
            segment_labels=["a"],
            **ALGORITHM,
        )


def test_zipped_series_is_referenced_like_the_folder(
    referenced_series: Path, ct: Volume, tmp_path: Path
) -> None:
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(referenced_series.iterdir()):
            zf.write(path, f"dicom/{path.name}")
    masks = _box_and_sphere(ct.shape)
    labels = {"segment_labels": ["box", "sphere"], **ALGORITHM}
    from_zip = pydicom.dcmread(write_dicom_seg(masks, archive, tmp_path / "z.dcm", **labels))
    from_dir = pydicom.dcmread(
        write_dicom_seg(masks, referenced_series, tmp_path / "d.dcm", **labels)
    )
    assert [_frame_uid(f) for f in from_zip.PerFrameFunctionalGroupsSequence] == [
        _frame_uid(f) for f in from_dir.PerFrameFunctionalGroupsSequence
    ]
    np.testing.assert_array_equal(_canonical_masks(from_zip, ct), masks)


def test_a_4d_mask_nifti_in_its_ct_orientation_becomes_the_same_segments(
    referenced_series: Path, ct: Volume, tmp_path: Path
) -> None:
    from hyperct.io.dicom_seg import write_dicom_seg_from_nifti
    from hyperct.io.write import write_nifti, write_nifti_channels

    masks = _box_and_sphere(ct.shape)
    nifti = write_nifti_channels(masks.astype(np.uint8), ct.affine, tmp_path / "masks.nii.gz",
                                 axcodes="LPS")  # channels last, not the canonical axes
    out = write_dicom_seg_from_nifti(nifti, referenced_series, tmp_path / "seg.dcm",
                                     segment_labels=["box", "sphere"], **ALGORITHM)
    np.testing.assert_array_equal(_canonical_masks(pydicom.dcmread(out), ct), masks)
    flat = write_nifti(Volume(masks[0].astype(np.uint8), ct.spacing, ct.affine), tmp_path / "3d.nii.gz")
    with pytest.raises(DicomOutputError, match="expected a 4-D mask"):
        write_dicom_seg_from_nifti(flat, referenced_series, tmp_path / "x.dcm",
                                   segment_labels=["box"], **ALGORITHM)
