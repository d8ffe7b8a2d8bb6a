import pytest
import torch

from hyperct.models.unict.config import UniCTConfig
from hyperct.models.unict.encoders import NO_FROZEN_BACKBONE, SliceAttention, create_encoder

from unict_helpers import inputs, tiny_config


@pytest.mark.parametrize(
    ("encoder", "slices", "grid"),
    [("ctscroll", 4, (12, 32, 32)), ("volume3d", 1, (16, 32, 32)), ("dinov3", 4, (12, 32, 32))],
)
def test_every_encoder_gives_slice_tokens_a_global_token_and_the_model_grid(encoder, slices, grid):
    torch.manual_seed(0)
    model = create_encoder(tiny_config(encoder)).eval()
    images, image_mask = inputs(encoder)
    encoded = model(images, image_mask)
    assert encoded.slice_tokens.shape == (2, slices, 16)
    assert encoded.global_token.shape == (2, 16)
    assert encoded.slice_mask.shape == (2, slices)
    assert encoded.feature_map.shape[:3] == (2, model.channels, slices)
    assert encoded.grid == grid
    assert torch.isfinite(encoded.slice_tokens).all() and torch.isfinite(encoded.global_token).all()


@pytest.mark.parametrize(("encoder", "skips"), [("ctscroll", 3), ("volume3d", 3), ("dinov3", 0)])
def test_skips_are_the_earlier_stages_coarsest_first(encoder, skips):
    torch.manual_seed(0)
    model = create_encoder(tiny_config(encoder)).eval()
    images, image_mask = inputs(encoder)
    encoded = model(images, image_mask)
    assert len(encoded.skips) == len(model.skip_channels) == skips
    sizes = [encoded.feature_map.shape[3:]] + [skip.shape[3:] for skip in encoded.skips]
    for skip, channels in zip(encoded.skips, model.skip_channels, strict=True):
        assert skip.shape[:2] == (2, channels)
        if encoder == "ctscroll":  # per image: N triplets, like the feature map
            assert skip.shape[2] == encoded.feature_map.shape[2]
    assert all(a[0] < b[0] for a, b in zip(sizes, sizes[1:]))  # each finer than the one before


def test_volume3d_gives_one_token_per_feature_map_slice():
    model = create_encoder(tiny_config("volume3d")).eval()
    encoded = model(torch.randn(1, 1, 128, 32, 32))
    assert encoded.slice_tokens.shape[1] == encoded.feature_map.shape[2] == 128 // 32


@pytest.mark.parametrize("encoder", ["ctscroll", "dinov3"])
def test_padding_images_change_nothing(encoder):
    torch.manual_seed(0)
    model = create_encoder(tiny_config(encoder)).train()
    images, image_mask = inputs(encoder)
    changed = images.clone()
    changed[0, -1] = 100.0  # scan 0's last image is padding
    a, b = model(images, image_mask), model(changed, image_mask)
    torch.testing.assert_close(a.global_token, b.global_token)
    torch.testing.assert_close(a.slice_tokens[:, :3], b.slice_tokens[:, :3])


def test_slice_tokens_attend_only_within_their_window():
    torch.manual_seed(0)
    attention = SliceAttention(UniCTConfig(dim=16, heads=2, slice_layers=1, slice_window=3)).eval()
    slices = torch.randn(1, 8, 16)
    mask = torch.ones(1, 8, dtype=torch.bool)
    changed = slices.clone()
    changed[0, 5] = torch.randn(16)
    (a, ga), (b, gb) = attention(slices, mask), attention(changed, mask)
    unchanged = [0, 1, 2, 3, 7]  # one layer, window 3: slice 5 is seen by slices 4, 5, 6 only
    torch.testing.assert_close(a[0, unchanged], b[0, unchanged])
    assert not torch.allclose(a[0, 4], b[0, 4])
    assert not torch.allclose(ga, gb)  # the global token sees every slice


def test_the_attention_mask_blocks_exactly_the_slices_outside_the_window():
    attention = SliceAttention(UniCTConfig(dim=16, heads=2, slice_window=5))
    blocked = attention.blocked(6, torch.device("cpu"))
    assert not blocked[0].any() and not blocked[:, 0].any()
    for i in range(6):
        for j in range(6):
            assert bool(blocked[1 + i, 1 + j]) == (abs(i - j) > 2)


def test_too_many_slices_are_refused():
    attention = SliceAttention(UniCTConfig(dim=16, heads=2, max_slices=4))
    with pytest.raises(ValueError, match="max_slices"):
        attention(torch.randn(1, 5, 16), torch.ones(1, 5, dtype=torch.bool))


@pytest.mark.parametrize(
    ("encoder", "shape", "message"),
    [
        ("volume3d", (2, 4, 3, 32, 32), r"\(B, 1, D, H, W\)"),
        ("ctscroll", (2, 1, 16, 32, 32), r"\(B, N, 3, H, W\)"),
    ],
)
def test_wrongly_shaped_inputs_are_refused(encoder, shape, message):
    model = create_encoder(tiny_config(encoder))
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(shape))


def test_a_scan_without_any_real_image_is_refused():
    model = create_encoder(tiny_config("ctscroll"))
    with pytest.raises(ValueError, match="at least one real image"):
        model(torch.zeros(1, 2, 3, 32, 32), torch.zeros(1, 2, dtype=torch.bool))


def test_only_dinov3_has_a_frozen_backbone():
    dinov3 = create_encoder(tiny_config("dinov3"))
    frozen = dinov3.frozen_keys("encoder.")
    assert frozen and all(k.startswith("encoder.backbone.vit.") for k in frozen)
    trainable = [n for n, p in dinov3.backbone.named_parameters() if p.requires_grad]
    assert trainable and all(".source.lora_" in n for n in trainable)
    assert dinov3.identity()["name"] == "dinov3-tiny"
    scroll = create_encoder(tiny_config("ctscroll"))
    assert scroll.frozen_keys("encoder.") == frozenset()
    assert scroll.identity()["sha256"] == NO_FROZEN_BACKBONE


@pytest.mark.parametrize("rank", [0, 2])
def test_dinov3_trains_only_its_lora(rank):
    torch.manual_seed(0)
    model = create_encoder(tiny_config("dinov3", dinov3_lora_rank=rank)).train()
    images, image_mask = inputs("dinov3")
    model(images, image_mask).global_token.sum().backward()
    lora = {n: p for n, p in model.backbone.named_parameters() if ".source.lora_" in n}
    assert len(lora) == (0 if rank == 0 else 2 * 6 * model.backbone.num_blocks)
    assert all(p.grad is not None for p in lora.values())
    frozen = [p for n, p in model.backbone.named_parameters() if n not in lora]
    assert frozen and all(p.grad is None and not p.requires_grad for p in frozen)
    assert not any(".source." in k for k in model.frozen_keys(""))
