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
