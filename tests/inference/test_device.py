"""A device this torch cannot use is refused in one line, before anything is built; bf16 autocast
only where the hardware does bf16 arithmetic, with a logged fallback elsewhere."""

import logging

import pytest
import torch

from hyperct.config.run import ConfigError
from hyperct.inference import device as device_module
from hyperct.inference.device import autocast, bf16_supported, on_device, resolve_device


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_one_clear_line() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_device("cuda")
    message = str(info.value)
    assert "\n" not in message and "'cuda' was asked for" in message
    assert torch.__version__ in message and "use device cpu or auto" in message


def test_auto_and_cpu_resolve() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_a_name_that_is_no_device_is_refused() -> None:
    with pytest.raises(ConfigError, match="'gpu' is not a torch device"):
        resolve_device("gpu")


@pytest.mark.parametrize(("avx512_bf16", "amx", "expected"),
                         [(False, False, False), (True, False, True), (False, True, True)])
def test_cpu_bf16_follows_the_cpus_bf16_arithmetic(monkeypatch, avx512_bf16, amx, expected) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert bf16_supported(torch.device("cpu")) is expected


def test_bf16_asked_for_without_support_runs_float32_and_says_so_once(monkeypatch, caplog) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    device_module._log_float32_fallback.cache_clear()
    linear = torch.nn.Linear(4, 4)
    with caplog.at_level(logging.WARNING, logger="hyperct.inference.device"):
        for _ in range(2):
            with autocast(torch.device("cpu"), enabled=True):
                assert linear(torch.randn(2, 4)).dtype == torch.float32
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "runtime.bf16 is on" in warnings[0]
    assert "AVX512-BF16 or AMX" in warnings[0] and "float32" in warnings[0]


def test_bf16_on_a_cpu_with_bf16_arithmetic_autocasts(monkeypatch, caplog) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    linear = torch.nn.Linear(4, 4)
    with caplog.at_level(logging.WARNING, logger="hyperct.inference.device"):
        with autocast(torch.device("cpu"), enabled=True):
            assert linear(torch.randn(2, 4)).dtype == torch.bfloat16
        with autocast(torch.device("cpu"), enabled=False):
            assert linear(torch.randn(2, 4)).dtype == torch.float32
    assert not caplog.records


def test_bf16_weights_on_a_cpu_without_bf16_arithmetic_go_back_to_float32(monkeypatch, caplog) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    device_module._log_float32_fallback.cache_clear()
    model = torch.nn.Sequential(torch.nn.Linear(4, 4).to(torch.bfloat16), torch.nn.Linear(4, 2))
    with caplog.at_level(logging.WARNING, logger="hyperct.inference.device"):
        for _ in range(2):
            placed = on_device(model, torch.device("cpu"))
            assert placed is model
            assert {p.dtype for p in placed.parameters()} == {torch.float32}
            model[0].to(torch.bfloat16)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "backbone_dtype is bfloat16" in warnings[0]


def test_bf16_weights_stay_where_the_cpu_does_bf16(monkeypatch, caplog) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4).to(torch.bfloat16), torch.nn.Linear(4, 2))
    with caplog.at_level(logging.WARNING, logger="hyperct.inference.device"):
        placed = on_device(model, torch.device("cpu"))
    assert [p.dtype for p in placed.parameters()] == [torch.bfloat16] * 2 + [torch.float32] * 2
    assert not caplog.records
