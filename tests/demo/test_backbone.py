"""The demo's stand-in backbone: pretrained through the trainer's loop, saved as weights."""

import json

import pytest

from hyperct.models.backbones import create_backbone
from hyperct.demo.backbone import PROVENANCE_FILE, PretrainConfig, pretrain_backbone


def test_pretrained_folder_loads_as_backbone_weights_and_says_what_it_is(cohort, tmp_path):
    out = pretrain_backbone(PretrainConfig(
        manifest=cohort["manifest"], cache=cohort["cache"], out=str(tmp_path / "bb"),
        epochs=6, batch_size=4, lr=3e-3, progress=False))
    provenance = json.loads((out / PROVENANCE_FILE).read_text())
    assert "NOT the DINOv3 weights" in provenance["what"]
    losses = provenance["loss_per_epoch"]
    assert len(losses) == 6 and losses[-1] < losses[0]
    loaded = create_backbone("dinov3-tiny", weights=out)
    random = create_backbone("dinov3-tiny")
    assert loaded.identity().pretrained and loaded.identity().sha256 != random.identity().sha256
    assert all(not p.requires_grad for p in loaded.parameters())


def test_config_validation():
    with pytest.raises(ValueError, match="epochs"):
        PretrainConfig(manifest="m", cache="c", out="o", epochs=0)
    with pytest.raises(ValueError, match="objective"):
        PretrainConfig(manifest="m", cache="c", out="o", objective="dino")


def test_ssl_pretraining_reads_no_labels_and_its_loss_decreases(cohort, tmp_path):
    import pandas as pd

    manifest = pd.read_csv(cohort["manifest"])
    task_columns = [c for c in manifest.columns if c not in
                    ("scan_id", "patient_id", "path", "anatomy_path", "cohort", "split")]
    manifest[task_columns] = -1  # no label anywhere: the objective must not need one
    unlabelled = tmp_path / "manifest.csv"
    manifest.assign(path=[str(cohort["root"] / p) for p in manifest["path"]],
                    anatomy_path=[str(cohort["root"] / p) for p in manifest["anatomy_path"]]
                    ).to_csv(unlabelled, index=False)
    out = pretrain_backbone(PretrainConfig(
        manifest=str(unlabelled), cache=cohort["cache"], out=str(tmp_path / "bb"),
        epochs=6, batch_size=4, lr=3e-3, progress=False, objective="ssl"))
    provenance = json.loads((out / PROVENANCE_FILE).read_text())
    assert "masked-image modelling" in provenance["what"]
    losses = provenance["loss_per_epoch"]
    assert len(losses) == 6 and losses[-1] < 0.8 * losses[0]
    assert create_backbone("dinov3-tiny", weights=out).identity().pretrained


def test_patchify_round_trips():
    import torch

    from hyperct.demo.backbone import _patchify, _unpatchify

    images = torch.randn(2, 3, 32, 48)
    patches = _patchify(images, 16)
    assert patches.shape == (2, 6, 3 * 16 * 16)
    assert torch.equal(patches[0, 1], images[0, :, :16, 16:32].reshape(-1))  # row-major order
    assert torch.equal(_unpatchify(patches, images.shape), images)
