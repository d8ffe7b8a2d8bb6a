"""End to end on the real TotalSegmentator output: prepare -> Dataset -> anatomy objectives."""

import pandas as pd
import pytest
import torch

from hyperct.anatomy.supervision import AnatomyConfig, build_supervision
from hyperct.data.dataset import CachedScanDataset, collate_scans
from hyperct.data.prepare import prepare_cache
from hyperct.models.classifier3d import Classifier3D, Classifier3DConfig
from hyperct.models.hyperct import HyperCT, HyperCTConfig
from hyperct.preprocess.spec import SliceStackSpec, SpacingCropSpec
from hyperct.tasks import TASK_NAMES
from hyperct.training.objectives import HyperCTObjective, MultiLabelObjective


@pytest.fixture()
def manifest(real_ct, tmp_path):
    rows = [
        {
            "scan_id": f"s{i}",
            "patient_id": f"p{i}",
            "path": str(real_ct / "ts_example_ct_sm.nii.gz"),
            "cohort": "internal",
            "split": "train",
            "anatomy_path": str(real_ct / "ts_example_ct_sm_totalseg.nii.gz"),
            **{t: i % 2 for t in TASK_NAMES},
        }
        for i in range(2)
    ]
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _batch(manifest, tmp_path, spec) -> dict:
    prepare_cache(manifest, spec, tmp_path / "cache", progress=False)
    dataset = CachedScanDataset(manifest, tmp_path / "cache", train=True)
    assert dataset.has_anatomy
    return collate_scans([dataset[0], dataset[1]])


def test_3d_pipeline_maps_cached_totalseg_ids(manifest, tmp_path) -> None:
    spec = SpacingCropSpec(
        spacing_zyx=(6.0, 6.0, 6.0), pad_shape_zyx=(16, 48, 48), crop_shape_zyx=(16, 32, 32)
    )
    batch = _batch(manifest, tmp_path, spec)
    assert batch["anatomy"].shape == (2, 16, 32, 32)
    torch.manual_seed(0)
    model = Classifier3D(Classifier3DConfig(backbone_kwargs={"width": 4}))
    anatomy = build_supervision(AnatomyConfig(enabled=True), model.backbone.out_channels, 3)
    targets = anatomy._small_ids(batch["anatomy"])
    assert set(targets.unique().tolist()) <= set(range(7)) and (targets == 5).any()
    logs = MultiLabelObjective(range(25), anatomy=anatomy).backward(model, batch, 1.0)
    assert logs["seg_loss"] > 0 and anatomy.head.proj.weight.grad is not None


def test_25d_pipeline_trains_hyperct_seg_head(manifest, tmp_path, tiny_model) -> None:
    batch = _batch(manifest, tmp_path, SliceStackSpec(slices=6, size=32))
    assert batch["anatomy"].shape == (2, 2, 32, 32)
    torch.manual_seed(0)
    model = HyperCT(HyperCTConfig(**tiny_model))
    anatomy = build_supervision(AnatomyConfig(enabled=True), model.backbone.hidden_size, 2)
    objective = HyperCTObjective(range(25), torch.Generator().manual_seed(0), anatomy=anatomy)
    logs = objective.backward(model, batch, 1.0)
    assert logs["seg_loss"] > 0
    assert anatomy.head.proj.weight.grad is not None
