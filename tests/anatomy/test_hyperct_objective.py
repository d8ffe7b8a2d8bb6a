"""HyperCT + anatomy: the seg head on LoRA-adapted patch tokens, in the same forward pass."""

import pytest
import torch

from hyperct.anatomy.hyperct_objective import AnatomyHyperCTObjective
from hyperct.anatomy.losses import SegLossConfig
from hyperct.anatomy.totalseg import IGNORE_INDEX
from hyperct.models.hyperct import HyperCT, HyperCTConfig

TINY = dict(
    backbone="dinov3-tiny",
    task_dim=16,
    module_dim=8,
    latent_dim=16,
    hyper_output_dim=16,
    rank=2,
    alpha=2,
)


@pytest.fixture(scope="module")
def model() -> HyperCT:
    torch.manual_seed(0)
    return HyperCT(HyperCTConfig(**TINY))


def _batch() -> dict:
    g = torch.Generator().manual_seed(1)
    return {
        "image": torch.randn(2, 3, 3, 32, 32, generator=g),
        "image_mask": torch.tensor([[True, True, False], [True, True, True]]),
        "labels": torch.randint(0, 2, (2, 25), generator=g).float(),
        "anatomy": torch.randint(0, 7, (2, 3, 32, 32), generator=g),
    }


def _objective(model: HyperCT, **kw) -> AnatomyHyperCTObjective:
    torch.manual_seed(0)  # same head init and LoRA dropout for every objective built here
    return AnatomyHyperCTObjective(
        range(25), torch.Generator().manual_seed(0), hidden_size=model.backbone.hidden_size, **kw
    )


def test_seg_loss_trains_head_and_hypernetwork(model: HyperCT) -> None:
    model.zero_grad()
    objective = _objective(model)
    logs = objective.backward(model, _batch(), 1.0)
    assert logs["seg_loss"] > 0 and logs["samples"] == 2
    assert all(p.grad is not None for p in objective.parameters())
    with_seg = [p.grad.clone() for p in model.hypernetwork.parameters() if p.grad is not None]
    model.zero_grad()
    _objective(model, seg=SegLossConfig(weight=0.0)).backward(model, _batch(), 1.0)
    without = [p.grad for p in model.hypernetwork.parameters() if p.grad is not None]
    assert any(not torch.allclose(a, b) for a, b in zip(with_seg, without))


def test_padded_images_are_ignored(model: HyperCT) -> None:
    batch = _batch()
    first = _objective(model).backward(model, batch, 1.0)["seg_loss"]
    batch["anatomy"][0, 2] = (batch["anatomy"][0, 2] + 1) % 7
    assert _objective(model).backward(model, batch, 1.0)["seg_loss"] == pytest.approx(first)


def test_targets_mapping_and_shape_check(model: HyperCT) -> None:
    objective = _objective(model, totalseg_targets=True)
    mask = torch.tensor([[True, False]])
    target = objective._targets(torch.tensor([[[[51, 10]], [[51, 10]]]]), mask)
    assert target.tolist() == [[[[6, 1]], [[IGNORE_INDEX, IGNORE_INDEX]]]]
    with pytest.raises(ValueError, match="anatomy"):
        objective._targets(torch.zeros(1, 32, 32, dtype=torch.long), mask)


def test_head_state_round_trips(model: HyperCT) -> None:
    a, b = _objective(model), _objective(model)
    with torch.no_grad():
        a.seg_head.proj.weight.add_(1.0)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.seg_head.proj.weight, b.seg_head.proj.weight)
    assert not any("seg" in k for k in model.state_dict())


def test_build_from_config(model: HyperCT) -> None:
    from hyperct.anatomy.hyperct_objective import AnatomyConfig, build_anatomy_objective

    objective = build_anatomy_objective(
        AnatomyConfig(enabled=True, label_set="chest_coarse", loss="dice_ce"),
        range(25),
        torch.Generator().manual_seed(0),
        hidden_size=model.backbone.hidden_size,
    )
    assert objective.seg_head.proj.out_channels == 7 and objective.lut is not None
    assert objective.seg.kind == "dice_ce"
    with pytest.raises(ValueError, match="anatomy.label_set"):
        AnatomyConfig(label_set="lungs")
    with pytest.raises(ValueError, match="enabled is false"):
        build_anatomy_objective(AnatomyConfig(), range(25), torch.Generator(), hidden_size=8)
