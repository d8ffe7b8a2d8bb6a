"""Airway findings: peribronchial thickening and bronchiectasis are drawn where they can be seen,
and seen by the benchmark's simple image features (benchmarks/phantom.py) on a grid like the
learnability cohort's."""

import numpy as np
from conftest import make_spec
from test_nodes_and_nodules import SMALL_GRID, _bits

from benchmarks.phantom import LUNGS, _airway_features
from hyperct.phantom.render import render_scan

PBT = "Peribronchial thickening"


def _airways(findings: dict[str, float], seed: int = 0):
    scan = render_scan(make_spec(findings, seed=seed, grid=SMALL_GRID))
    ct, lab, spacing = scan.volume.array, scan.anatomy, scan.volume.spacing
    lumen_ml, sleeve_hu = _airway_features(ct, np.isin(lab, LUNGS), float(np.prod(spacing)) / 1e3)
    return scan, lumen_ml, sleeve_hu


def test_thickening_cuffs_the_central_bundles_and_grows_with_severity():
    normal, _, _ = _airways({})
    subtle, _, _ = _airways({PBT: 0.1})
    obvious, _, _ = _airways({PBT: 1.0})
    cuff = _bits(obvious, PBT)
    assert _bits(subtle, PBT).sum() * 1.5 < cuff.sum()
    # Same seed, same tree: the thickened scan is denser exactly where its mask is.
    gain = obvious.volume.array[cuff].astype(float) - normal.volume.array[cuff]
    assert np.median(gain) > 150
    outside = np.isin(obvious.anatomy, LUNGS) & ~cuff
    far = obvious.volume.array[outside].astype(float) - normal.volume.array[outside]
    assert abs(np.median(far)) < 5


def test_benchmark_sleeve_feature_sees_thickening_and_lumen_feature_sees_dilation():
    _, lumen_normal, sleeve_normal = _airways({})
    _, _, sleeve_thick = _airways({PBT: 0.5})
    _, lumen_dilated, _ = _airways({"Bronchiectasis": 0.8})
    assert sleeve_thick > sleeve_normal + 60
    assert lumen_dilated > lumen_normal + 0.5
