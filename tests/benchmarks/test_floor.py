"""The floor meter's FLOP count agrees with the linear layers a real DINOv3 forward runs."""

import torch
from torch import nn
from transformers import DINOv3ViTConfig, DINOv3ViTModel

from benchmarks.floor import VIT_B, ViTShape, case_flops, floor_seconds
from hyperct.models.backbones.dinov3 import PRESETS


def _linear_flops_by_hooks(model: nn.Module, pixels: torch.Tensor) -> int:
    counted = 0

    def hook(module: nn.Linear, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        nonlocal counted
        rows = inputs[0].numel() // module.in_features
        counted += 2 * rows * module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        model(pixel_values=pixels)
    for handle in handles:
        handle.remove()
    return counted


def test_linear_flops_match_a_real_forward():
    preset = PRESETS["dinov3-tiny"]
    model = DINOv3ViTModel(DINOv3ViTConfig(**preset)).eval()
    shape = ViTShape(hidden=preset["hidden_size"], intermediate=preset["intermediate_size"],
                     layers=preset["num_hidden_layers"], image_size=48, patch=preset["patch_size"])
    images = 3
    counted = _linear_flops_by_hooks(model, torch.randn(images, 3, 48, 48))
    attention = 2 * 2 * images * shape.tokens**2 * shape.hidden * shape.layers
    assert counted == shape.forward_flops(images) - attention


def test_cases_match_the_design_anchors():
    flops = case_flops()
    assert VIT_B.tokens == 86  # 9 x 9 patches + CLS + 4 registers
    assert abs(flops["one backbone pass, 55 images"] / 1e12 - 0.8) < 0.05
    assert abs(flops["train step, batch 2 x 55 images"] / 1e12 - 3.2) < 0.1
    assert abs(flops["predict_all 25 tasks, 55 images"] / 1e12 - 20) < 1
    assert floor_seconds("one backbone pass, 55 images", 1000.0) == flops["one backbone pass, 55 images"] / 1e12


def test_the_floor_precision_is_the_one_hyperct_computes_in(monkeypatch):
    import torch

    from benchmarks.floor import product_precision

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    for avx512_bf16, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda flag=avx512_bf16: flag)
        assert product_precision("cpu") == expected
