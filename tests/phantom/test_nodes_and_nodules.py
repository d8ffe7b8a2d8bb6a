"""Lymph nodes and lung nodules: drawn where they can be seen, and seen by the benchmark's
simple image features (benchmarks/phantom.py) on a grid like the learnability cohort's."""

import numpy as np
from conftest import make_spec
from scipy import ndimage as ndi

from benchmarks.phantom import LUNGS, _central_soft_tissue, _nodule_blobness
from hyperct.phantom.grid import Grid
from hyperct.phantom.render import render_scan
from hyperct.tasks import task_by_name

#: Like a "small" preset scan, the grid of the learnability benchmark.
SMALL_GRID = Grid((56, 112, 112), (5.5, 3.4, 3.4))


def _bits(scan, task: str) -> np.ndarray:
    return ((scan.findings_mask >> np.uint32(task_by_name(task).id)) & np.uint32(1)).astype(bool)


def test_enlarged_nodes_are_soft_tissue_beside_organs_and_kept_by_lung_findings():
    findings = {"Lymphadenopathy": 1.0, "Emphysema": 1.0, "Lung opacity": 1.0}
    scan = render_scan(make_spec(findings, seed=4))
    nodes = _bits(scan, "Lymphadenopathy")
    assert nodes.any()
    assert np.all(scan.anatomy[nodes] == 0), "a node is neither lung nor an organ"
    assert not (_bits(scan, "Emphysema") | _bits(scan, "Lung opacity"))[nodes].any()
    assert -40 <= np.median(scan.volume.array[nodes]) <= 80
    comp, n = ndi.label(nodes)
    sizes = ndi.sum_labels(nodes, comp, np.arange(1, n + 1))
    box = ndi.find_objects(comp)[int(np.argmax(sizes))]
    spacing = scan.volume.spacing
    short_axis = min((box[i].stop - box[i].start) * spacing[i] for i in (1, 2))
    assert short_axis >= 10.0, short_axis


def test_nodule_diameters_reach_the_subtle_and_the_obvious_end():
    subtle = render_scan(make_spec({"Lung nodule": 0.02}, seed=1)).details["Lung nodule"]
    obvious = render_scan(make_spec({"Lung nodule": 1.0}, seed=1)).details["Lung nodule"]
    assert subtle["nodules"][0]["diameter_mm"] < 5
    assert obvious["nodules"][0]["diameter_mm"] == 30.0


def _features(findings: dict[str, float], seed: int) -> tuple[dict, float, float]:
    scan = render_scan(make_spec(findings, seed=seed, grid=SMALL_GRID))
    ct, lab, spacing = scan.volume.array, scan.anatomy, scan.volume.spacing
    lungs = np.isin(lab, LUNGS)
    return (
        scan.details,
        _nodule_blobness(ct, lungs, spacing),
        _central_soft_tissue(ct, lab, lungs, spacing),
    )


def test_benchmark_features_see_a_solid_nodule_and_enlarged_nodes():
    _, blob_normal, central_normal = _features({}, seed=0)
    details, blob_nodule, _ = _features({"Lung nodule": 0.5}, seed=0)
    assert details["Lung nodule"]["nodules"][0]["kind"] == "solid"
    assert blob_nodule > 2 * blob_normal
    _, blob_nodes, central_nodes = _features({"Lymphadenopathy": 1.0}, seed=0)
    assert central_nodes > 1.15 * central_normal
    assert blob_nodes < 1.5 * blob_normal, "nodes are not nodules"
