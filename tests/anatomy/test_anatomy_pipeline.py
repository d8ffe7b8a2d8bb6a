"""End to end on the real TotalSegmentator output: prepare -> Dataset -> anatomy objectives."""

import pandas as pd
import pytest
import torch

from hyperct.anatomy.hyperct_objective import AnatomyConfig, build_anatomy_objective
from hyperct.anatomy.totalseg import CHEST_LOBES_HEART
from hyperct.anatomy.train3d import Classifier3DObjective, Train3DConfig
from hyperct.data.dataset import CachedScanDataset, collate_scans
from hyperct.data.prepare import prepare_cache
from hyperct.models.classifier3d import Classifier3D, Classifier3DConfig
from hyperct.models.hyperct import HyperCT, HyperCTConfig
from hyperct.preprocess.spec import SliceStackSpec, SpacingCropSpec
from hyperct.tasks import TASK_NAMES


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
    objective = Classifier3DObjective(range(25), Train3DConfig(totalseg_targets=CHEST_LOBES_HEART))
    targets = objective._targets(batch["anatomy"])
    assert set(targets.unique().tolist()) <= set(range(7)) and (targets == 5).any()
    torch.manual_seed(0)
    model = Classifier3D(Classifier3DConfig(backbone_kwargs={"width": 4}, num_seg_classes=7))
    assert objective.backward(model, batch, 1.0)["aux_loss"] > 0


def test_25d_pipeline_trains_hyperct_seg_head(manifest, tmp_path) -> None:
    batch = _batch(manifest, tmp_path, SliceStackSpec(slices=6, size=32))
    assert batch["anatomy"].shape == (2, 2, 32, 32)
    torch.manual_seed(0)
    model = HyperCT(
        HyperCTConfig(
            backbone="dinov3-tiny",
            task_dim=16,
            module_dim=8,
            latent_dim=16,
            hyper_output_dim=16,
            rank=2,
            alpha=2,
        )
    )
    objective = build_anatomy_objective(
        AnatomyConfig(enabled=True),
        range(25),
        torch.Generator().manual_seed(0),
        model.backbone.hidden_size,
    )
    logs = objective.backward(model, batch, 1.0)
    assert logs["seg_loss"] > 0
    assert objective.seg_head.proj.weight.grad is not None
