"""Input QC on the real scans of the shared data and on phantom scans."""

import numpy as np
import pytest

from hyperct.io.read import read_ct
from hyperct.io.volume import Volume
from hyperct.io.scan_qc import QCExpectations, check_scan, mediastinum_p75


def _codes(volume: Volume, **expect) -> list[str]:
    return [flag.code for flag in check_scan(volume, QCExpectations(**expect))]


def test_the_contrast_enhanced_real_ct_is_flagged_and_the_plain_one_is_not(real_ct):
    enhanced = read_ct(real_ct / "ts_chest_crop.nii.gz")
    plain = read_ct(real_ct / "ts_example_ct.nii.gz")
    assert _codes(enhanced) == ["contrast"]
    assert _codes(plain) == []
    assert mediastinum_p75(plain) < 70 < 100 < mediastinum_p75(enhanced)
    assert _codes(enhanced, contrast=True) == []


def test_a_few_slices_do_not_cover_the_chest(real_ct):
    series = read_ct(real_ct / "dicom_series")  # 20 slices of 2 mm
    assert "field_of_view" in _codes(series)


def test_slice_thickness_beyond_the_training_range(real_ct):
    plain = read_ct(real_ct / "ts_example_ct.nii.gz")  # 3 mm slices
    assert "slice_thickness" in _codes(plain, max_slice_mm=2.5)


def test_no_lung_at_all_is_a_field_of_view_flag():
    water = Volume(np.zeros((20, 64, 64), np.int16), (2.0, 1.0, 1.0), np.diag([1.0, 1, 1, 1]))
    assert _codes(water) == ["field_of_view"]


def test_phantom_scans_pass(phantom_volume):
    assert _codes(phantom_volume, max_slice_mm=10) == []


@pytest.fixture(scope="module")
def phantom_volume() -> Volume:
    from hyperct.phantom.cardiac import sample_cardiac
    from hyperct.phantom.grid import Grid
    from hyperct.phantom.patient import PatientState
    from hyperct.phantom.render import ScanSpec, render_scan

    patient = PatientState(patient_id="p0", sex="F", age=55.0, pack_years=0.0, bmi=24.0,
                           heart_failure=0.0, hf_reduced_ef=False, fibrosis=False, airway=False,
                           malignancy=False, athero=0.0, surgery=False)
    spec = ScanSpec(scan_id="q0", patient=patient, cardiac=sample_cardiac(patient, np.random.default_rng(0)),
                    findings={}, seed=(0, 1), grid=Grid((40, 80, 80), (8.0, 4.6, 4.6)), scanner="internal")
    return render_scan(spec).volume
