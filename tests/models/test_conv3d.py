"""3D convolutions compute in float32 under CPU bf16 autocast: finite gradients on maps two
voxels deep (where oneDNN's bf16 conv3d backward gives NaN), the same values as float32."""

import torch
from torch import nn

from hyperct.models.conv3d import CPUFloat32Conv3d, float32_conv3d_on_cpu


def dirty_allocator() -> None:
    """Free a NaN-filled buffer, so the next allocations may reuse memory holding NaN (as in
    training, where freed activations hold anything); a kernel that reads memory it never wrote
    then shows it."""
    junk = torch.full((1 << 20,), float("nan"))
    del junk


def test_depth_two_maps_get_finite_float32_gradients_under_cpu_autocast() -> None:
    torch.manual_seed(0)
    conv = CPUFloat32Conv3d(16, 64, 3, padding=1, bias=False)
    reference = nn.Conv3d(16, 64, 3, padding=1, bias=False)
    reference.load_state_dict(conv.state_dict())
    for _ in range(20):
        dirty_allocator()
        x = torch.randn(8, 16, 2, 8, 8, requires_grad=True)
        conv.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = conv(x)
        upstream = torch.randn(y.shape)
        y.backward(upstream)
        assert torch.isfinite(conv.weight.grad).all() and torch.isfinite(x.grad).all()
    assert y.dtype == torch.float32
    reference.zero_grad()
    x_ref = x.detach().clone().requires_grad_(True)
    reference(x_ref).backward(upstream)
    torch.testing.assert_close(conv.weight.grad, reference.weight.grad)
    torch.testing.assert_close(x.grad, x_ref.grad)


def test_without_autocast_it_is_a_plain_conv3d() -> None:
    conv = CPUFloat32Conv3d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 4, 4, 4)
    assert torch.equal(conv(x), nn.Conv3d.forward(conv, x))


def test_every_conv3d_of_a_module_is_converted_in_place_keeping_its_state() -> None:
    model = nn.Sequential(nn.Conv3d(1, 2, 3), nn.Sequential(nn.Conv3d(2, 2, 1)), nn.Conv2d(2, 2, 1))
    keys = list(model.state_dict())
    weight = model[0].weight
    assert float32_conv3d_on_cpu(model) is model
    assert type(model[0]) is CPUFloat32Conv3d and type(model[1][0]) is CPUFloat32Conv3d
    assert type(model[2]) is nn.Conv2d
    assert list(model.state_dict()) == keys and model[0].weight is weight

