"""check_plausible_ct: real CTs and phantom scans pass; values that are not CT HU are refused."""

from pathlib import Path

import numpy as np
import pydicom
import pytest

from hyperct import read_ct
from hyperct.io.errors import CTReadError
from hyperct.io.plausibility import ImplausibleCTError, check_plausible_ct, implausibility
from hyperct.io.volume import Volume
from hyperct.io.write import write_dicom_series
from hyperct.phantom.cardiac import sample_cardiac
from hyperct.phantom.grid import Grid
from hyperct.phantom.patient import PatientState
from hyperct.phantom.render import ScanSpec, render_scan

REAL = (
    "ts_example_ct.nii.gz",
    "ts_example_ct_sm.nii.gz",
    "ts_chest_crop.nii.gz",
    "dicom_series",
    "dicom_slices",
)


@pytest.fixture(scope="module")
def real_sm(real_ct: Path) -> Volume:
    return read_ct(real_ct / "ts_example_ct_sm.nii.gz")


@pytest.mark.parametrize("name", REAL)
def test_every_real_ct_passes(real_ct: Path, name: str) -> None:
    check_plausible_ct(read_ct(real_ct / name))


@pytest.mark.parametrize("scanner", ["internal", "external"])
@pytest.mark.parametrize("findings", [{}, {"Emphysema": 1.0, "Pleural effusion": 1.0}])
def test_phantom_scans_pass(scanner: str, findings: dict[str, float]) -> None:
    patient = PatientState(
        patient_id="p0", sex="F", age=60.0, pack_years=10.0, bmi=27.0, heart_failure=0.0,
        hf_reduced_ef=False, fibrosis=False, airway=False, malignancy=False, athero=0.0,
        surgery=False,
    )  # fmt: skip
    spec = ScanSpec(
        scan_id="t0",
        patient=patient,
        cardiac=sample_cardiac(patient, np.random.default_rng(0)),
        findings=findings,
        grid=Grid((40, 80, 80), (8.0, 4.6, 4.6)),
        scanner=scanner,
        seed=(0, 1),
    )
    check_plausible_ct(render_scan(spec).volume)


def _like(volume: Volume, array: np.ndarray) -> Volume:
    return Volume(array, volume.spacing, volume.affine, source="bad.nii.gz")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unit", "no air near -1000"),
        ("uint8", "no air near -1000"),
        ("shifted", "no air near -1000"),
        ("zeros", "every voxel is 0 (a constant volume)"),
        ("padding", "below -1500 HU"),
        ("no_body", "no body"),
    ],
)
def test_implausible_values_refused_with_reason(real_sm: Volume, case: str, reason: str) -> None:
    hu = real_sm.array.astype(np.float32)
    arrays = {
        "unit": (np.clip(hu, -1000, 1000) + 1000) / 2000,  # a [0, 1] normalised export
        "uint8": np.clip((hu + 1000) / 8, 0, 255).astype(np.uint8),  # MRI-like 8-bit range
        "shifted": (hu + 1024).astype(np.int16),  # stored values, rescale never applied
        "zeros": np.zeros_like(hu, dtype=np.int16),
        "padding": np.where(hu > -500, -2048, -3024).astype(np.int16),  # outside the FOV only
        "no_body": np.where(hu > -500, 1500, hu).astype(np.int16),  # air and bone only
    }
    with pytest.raises(ImplausibleCTError, match="bad.nii.gz: values are not plausible") as err:
        check_plausible_ct(_like(real_sm, arrays[case]))
    assert reason in str(err.value) and "--allow-implausible" in str(err.value)


def test_padding_outside_the_field_of_view_is_ignored(real_sm: Volume) -> None:
    hu = real_sm.array.copy()
    hu[:, :20, :] = -3024  # a reconstruction circle's outside, as many scanners store it
    assert implausibility(hu) is None


def test_dicom_rescale_slope_zero_refused(tmp_path: Path) -> None:
    arr = np.full((4, 8, 8), -1000, dtype=np.int16)
    arr[:, 2:6, 2:6] = 40
    affine = np.array([[0, 0, -1, 0], [0, -1, 0, 0], [2, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    folder = write_dicom_series(Volume(arr, (2.0, 1.0, 1.0), affine), tmp_path / "s")
    victim = sorted(folder.iterdir())[1]
    ds = pydicom.dcmread(victim)
    ds.RescaleSlope = 0
    ds.save_as(victim)
    with pytest.raises(CTReadError, match=rf"{victim.name}: RescaleSlope 0"):
        read_ct(folder)
