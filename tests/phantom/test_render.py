import numpy as np
import pytest
from conftest import make_spec

from hyperct.anatomy.totalseg import TOTALSEG_V2_IDS as TS
from hyperct.phantom.render import render_scan
from hyperct.tasks import CONVENTIONAL, task_by_name

LOBE_IDS = [
    TS[n]
    for n in (
        "lung_upper_lobe_left",
        "lung_lower_lobe_left",
        "lung_upper_lobe_right",
        "lung_middle_lobe_right",
        "lung_lower_lobe_right",
    )
]

#: Median HU expected inside each finding's mask on the final (blurred, noisy) CT.
EXPECTED_HU = {
    "Medical material": (300, 3100),
    "Arterial wall calcification": (150, 1200),
    "Cardiomegaly": (0, 90),
    "Pericardial effusion": (-60, 60),
    "Coronary artery wall calcification": (80, 1200),
    "Hiatal hernia": (-400, 80),
    "Lymphadenopathy": (-40, 80),
    "Emphysema": (-1024, -900),
    "Atelectasis": (-250, 90),
    "Lung nodule": (-700, 90),
    "Lung opacity": (-750, 90),
    "Pulmonary fibrotic sequela": (-780, 120),
    "Pleural effusion": (-50, 60),
    "Mosaic attenuation pattern": (-1024, -600),
    "Peribronchial thickening": (-900, 100),
    "Consolidation": (-300, 90),
    "Bronchiectasis": (-1024, 100),
    "Interlobular septal thickening": (-850, 50),
}


def _median(ct, labels, ids):
    return float(np.median(ct[np.isin(labels, ids)]))


def test_tissue_hu_is_plausible(normal_scan):
    ct, lab = normal_scan.volume.array, normal_scan.anatomy
    assert ct.dtype == np.int16 and lab.dtype == np.uint8
    assert -950 < _median(ct, lab, LOBE_IDS) < -700
    assert 15 < _median(ct, lab, [TS["heart"]]) < 75
    assert 15 < _median(ct, lab, [TS["aorta"]]) < 75
    assert 35 < _median(ct, lab, [TS["liver"]]) < 85
    assert _median(ct, lab, [TS[f"vertebrae_T{i}"] for i in range(1, 13)]) > 150
    assert _median(ct, lab, [TS["rib_left_5"], TS["rib_right_5"]]) > 120
    assert -1024 <= ct.min() and ct.max() <= 3071
    assert ct[0, 0, 0] < -900


def test_lobes_partition_the_lungs_on_the_right_sides(normal_scan):
    lab = normal_scan.anatomy
    x = np.arange(lab.shape[2])
    z = np.arange(lab.shape[0])
    mean_x = {i: x[np.nonzero(lab == i)[2]].mean() for i in LOBE_IDS}
    mean_z = {i: z[np.nonzero(lab == i)[0]].mean() for i in LOBE_IDS}
    assert all((lab == i).sum() > 50 for i in LOBE_IDS)
    mid = lab.shape[2] / 2
    for name in ("lung_upper_lobe_left", "lung_lower_lobe_left"):
        assert mean_x[TS[name]] > mid
    for name in ("lung_upper_lobe_right", "lung_middle_lobe_right", "lung_lower_lobe_right"):
        assert mean_x[TS[name]] < mid
    assert mean_z[TS["lung_upper_lobe_left"]] > mean_z[TS["lung_lower_lobe_left"]]
    assert mean_z[TS["lung_upper_lobe_right"]] > mean_z[TS["lung_middle_lobe_right"]]


def test_lung_volume_fraction_and_heart_in_mediastinum(normal_scan):
    ct, lab = normal_scan.volume.array, normal_scan.anatomy
    body = ct > -500
    lungs = np.isin(lab, LOBE_IDS)
    frac = lungs.sum() / (lungs.sum() + body.sum())
    assert 0.15 < frac < 0.6
    heart = np.argwhere(lab == TS["heart"]).mean(axis=0)
    right = np.argwhere(np.isin(lab, LOBE_IDS[2:])).mean(axis=0)
    left = np.argwhere(np.isin(lab, LOBE_IDS[:2])).mean(axis=0)
    spine = np.argwhere(lab == TS["vertebrae_T8"]).mean(axis=0)
    assert right[2] < heart[2] < left[2]
    assert heart[1] < spine[1]
    assert not np.any((lab == TS["heart"]) & lungs)


def test_normal_scan_has_no_findings(normal_scan):
    assert not normal_scan.findings_mask.any()
    assert normal_scan.findings_mask.dtype == np.uint32


@pytest.mark.parametrize("task", [t.name for t in CONVENTIONAL])
def test_each_finding_is_drawn_where_its_mask_says(task):
    scan = render_scan(make_spec({task: 0.9}, seed=3))
    tid = task_by_name(task).id
    bits = (scan.findings_mask >> np.uint32(tid)) & np.uint32(1)
    assert bits.any(), task
    others = scan.findings_mask & ~np.uint32(1 << tid)
    allowed = {task_by_name("Lung opacity").id} if task == "Consolidation" else set()
    present = {t.id for t in CONVENTIONAL if ((others >> np.uint32(t.id)) & np.uint32(1)).any()}
    assert present <= allowed
    lo, hi = EXPECTED_HU[task]
    med = float(np.median(scan.volume.array[bits.astype(bool)]))
    assert lo <= med <= hi, (task, med)


def test_subtle_findings_are_still_drawn():
    for task in ("Lung nodule", "Pleural effusion", "Emphysema", "Atelectasis", "Bronchiectasis"):
        scan = render_scan(make_spec({task: 0.03}, seed=5))
        assert ((scan.findings_mask >> np.uint32(task_by_name(task).id)) & np.uint32(1)).any(), task


def test_render_is_deterministic_for_a_seed():
    spec = make_spec({"Lung nodule": 0.5, "Emphysema": 0.4}, seed=7)
    a, b = render_scan(spec), render_scan(spec)
    np.testing.assert_array_equal(a.volume.array, b.volume.array)
    np.testing.assert_array_equal(a.findings_mask, b.findings_mask)
    c = render_scan(make_spec({"Lung nodule": 0.5, "Emphysema": 0.4}, seed=8))
    assert not np.array_equal(a.volume.array, c.volume.array)


def test_obvious_end_is_larger_than_subtle_end():
    for task in ("Pleural effusion", "Emphysema", "Consolidation"):
        tid = np.uint32(task_by_name(task).id)
        small = ((render_scan(make_spec({task: 0.1}, seed=2)).findings_mask >> tid) & 1).sum()
        big = ((render_scan(make_spec({task: 1.0}, seed=2)).findings_mask >> tid) & 1).sum()
        assert big > 2 * small, task


def test_external_scanner_is_noisier_and_offset():
    a = render_scan(make_spec({}, seed=9, scanner="internal"))
    b = render_scan(make_spec({}, seed=9, scanner="external"))
    fat_a = a.volume.array[(a.anatomy == TS["liver"])]
    fat_b = b.volume.array[(b.anatomy == TS["liver"])]
    assert np.median(fat_b) > np.median(fat_a) + 5
    air = (slice(None), slice(0, 6), slice(0, 6))
    assert b.volume.array[air].astype(float).std() > a.volume.array[air].astype(float).std()


def test_bones_of_the_chest_wall_are_labelled(normal_scan):
    lab = normal_scan.anatomy
    for name in (
        "sternum",
        "scapula_left",
        "scapula_right",
        "autochthon_left",
        "spinal_cord",
        "rib_left_6",
        "rib_right_6",
        "esophagus",
        "trachea",
        "aorta",
        "stomach",
    ):
        assert (lab == TS[name]).any(), name
