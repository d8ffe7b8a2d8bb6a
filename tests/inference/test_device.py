"""A device this torch cannot use is refused in one line, before anything is built."""

import pytest
import torch

from hyperct.config.run import ConfigError
from hyperct.inference.device import resolve_device


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
