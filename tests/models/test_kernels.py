"""The fused linear layer (bias and GELU in the oneDNN matmul) equals linear, then GELU."""

from __future__ import annotations

import pytest
import torch

from hyperct.models.kernels import linear


@pytest.mark.parametrize("gelu", [False, True])
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
def test_fused_linear_equals_linear_then_gelu(
    dtype: torch.dtype, tolerance: float, gelu: bool
) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 40, 48)
    weight, bias = torch.randn(80, 48) / 48**0.5, torch.randn(80)
    expected = torch.nn.functional.linear(x.double(), weight.double(), bias.double())
    if gelu:
        expected = torch.nn.functional.gelu(expected)
    with torch.inference_mode():
        out = linear(x.to(dtype), weight.to(dtype), bias.to(dtype), gelu=gelu)
    assert out.shape == (3, 40, 80) and out.dtype == dtype
    torch.testing.assert_close(out.double(), expected, rtol=tolerance, atol=tolerance)


def test_fused_linear_without_a_bias_equals_the_product() -> None:
    torch.manual_seed(0)
    x, weight = torch.randn(50, 32).bfloat16(), torch.randn(16, 32).bfloat16()
    with torch.inference_mode():
        out = linear(x, weight, None)
    torch.testing.assert_close(out.float(), x.float() @ weight.float().T, rtol=2e-2, atol=2e-2)


def test_under_autograd_it_is_differentiable() -> None:
    torch.manual_seed(0)
    x = torch.randn(10, 32, dtype=torch.bfloat16, requires_grad=True)
    weight, bias = torch.randn(16, 32, dtype=torch.bfloat16), torch.randn(16, dtype=torch.bfloat16)
    out = linear(x, weight, bias, gelu=True)
    out.float().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
