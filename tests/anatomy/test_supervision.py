"""Anatomy supervision: the head's targets, ignored voxels, shapes and state, for 2.5D and 3D."""

import pytest
import torch

from hyperct.anatomy.losses import SegLossConfig
from hyperct.anatomy.supervision import AnatomyConfig, AnatomySupervision, build_supervision
from hyperct.tasks import IGNORE_INDEX


def _supervision(dims: int, **kw) -> AnatomySupervision:
    torch.manual_seed(0)
    return AnatomySupervision(8, dims, **kw)


def _tokens_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    tokens = torch.randn(2, 3, 4, 4, 8, generator=g)
    anatomy = torch.randint(0, 7, (2, 3, 16, 16), generator=g)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    return tokens, anatomy, mask


def test_token_loss_ignores_padded_images() -> None:
    sup = _supervision(2)
    tokens, anatomy, mask = _tokens_batch()
    first = sup.token_loss(tokens, anatomy, mask)
    assert first.item() > 0
    anatomy[0, 2] = (anatomy[0, 2] + 1) % 7
    assert sup.token_loss(tokens, anatomy, mask).item() == pytest.approx(first.item())
    anatomy[0, 1] = (anatomy[0, 1] + 1) % 7
    assert sup.token_loss(tokens, anatomy, mask).item() != pytest.approx(first.item())


def test_token_loss_checks_the_mask_shape() -> None:
    tokens, _, mask = _tokens_batch()
    with pytest.raises(ValueError, match=r"batch\['anatomy'\]"):
        _supervision(2).token_loss(tokens, torch.zeros(2, 16, 16, dtype=torch.long), mask)


def test_totalseg_ids_are_mapped_to_the_small_set() -> None:
    sup = _supervision(3, totalseg_targets=True)
    mapped = sup._small_ids(torch.tensor([0, 10, 51, 5, IGNORE_INDEX]))
    assert mapped.tolist() == [0, 1, 6, 0, IGNORE_INDEX]  # left upper lobe 1, heart 6, liver bg


def test_volume_loss_upsamples_to_the_mask_and_ignores_unlabelled() -> None:
    sup = _supervision(3)
    features = torch.randn(2, 8, 2, 2, 2, requires_grad=True)
    anatomy = torch.randint(0, 7, (2, 1, 8, 8, 8))
    loss = sup.volume_loss(features, anatomy)
    loss.backward()
    assert loss.item() > 0 and sup.head.proj.weight.grad is not None
    everything_ignored = torch.full((2, 8, 8, 8), IGNORE_INDEX)
    assert sup.volume_loss(features, everything_ignored).item() == 0.0
    with pytest.raises(ValueError, match="B = 2"):
        sup.volume_loss(features, anatomy[:1, 0])


def test_state_round_trips_and_weight_comes_from_the_loss_config() -> None:
    a, b = _supervision(2, seg=SegLossConfig(weight=0.5)), _supervision(2)
    with torch.no_grad():
        a.head.proj.weight.add_(1.0)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.head.proj.weight, b.head.proj.weight)
    assert a.weight == 0.5 and len(a.parameters()) == 2


def test_build_from_config() -> None:
    sup = build_supervision(
        AnatomyConfig(enabled=True, label_set="chest_coarse", loss="dice_ce"), 8, 2
    )
    assert sup.head.proj.out_channels == 7 and sup.lut is not None and sup.seg.kind == "dice_ce"
    assert build_supervision(AnatomyConfig(enabled=True, targets="small"), 8, 3).lut is None
    with pytest.raises(ValueError, match="anatomy.label_set"):
        AnatomyConfig(label_set="lungs")
    with pytest.raises(ValueError, match="enabled is false"):
        build_supervision(AnatomyConfig(), 8, 2)
