"""Every registered model family implements the one model interface and what it declares."""

from __future__ import annotations

import pytest
import torch

from hyperct.models.interface import (
    PROTOCOLS,
    Capability,
    CapabilityError,
    ScreeningModel,
    TaskFeatureModel,
    require,
)
from hyperct.models.registry import FAMILIES, create_model, family_of

#: A seconds-sized config of each family; a family registered without one fails the test below.
TINY_FIELDS: dict[str, dict] = {
    "hyperct": {"backbone": "dinov3-tiny", "task_dim": 8, "module_dim": 4, "latent_dim": 8,
                "hyper_output_dim": 8, "rank": 2, "num_tasks": 4},
    "shared-lora": {"backbone": "dinov3-tiny", "rank": 2, "num_tasks": 4},
    "classifier3d": {"backbone": "resnet18_3d", "backbone_kwargs": {"width": 4}, "num_tasks": 4},
}


def _inputs(section: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(0)
    if section == "model3d":
        return torch.randn(2, 1, 16, 16, 16, generator=g), None
    return torch.randn(2, 3, 3, 32, 32, generator=g), torch.tensor([[True] * 3, [True, True, False]])


def test_every_family_has_a_tiny_config_here() -> None:
    assert set(TINY_FIELDS) == set(FAMILIES)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_implements_the_interface_and_its_capabilities(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, **TINY_FIELDS[name])
    assert isinstance(model, ScreeningModel)
    for capability in model.capabilities:
        assert isinstance(model, PROTOCOLS[capability]), capability
    images, mask = _inputs(FAMILIES[name].section)
    with torch.no_grad():
        logits = model.eval().predict_all(images, mask)
    assert logits.shape == (2, len(model.task_names)) == (2, 4)
    assert model.feature_width > 0
    assert set(model.backbone_identity()) == {"name", "sha256"}

    state = {k: v.clone() for k, v in model.trainable_state_dict().items()}
    torch.manual_seed(0)  # the same frozen backbone, whose weights are not in the state
    other = create_model(name, **TINY_FIELDS[name]).eval()
    other.load_trainable_state_dict(
        {k: v + 0.5 if v.is_floating_point() else v for k, v in state.items()}
    )
    with torch.no_grad():
        assert not torch.allclose(other.predict_all(images, mask), logits)
        other.load_trainable_state_dict(state)
        torch.testing.assert_close(other.predict_all(images, mask), logits)


def test_every_method_builds_a_registered_family() -> None:
    from hyperct.config.run import METHODS

    assert {family_of(m).model for m in METHODS} == {f.model for f in FAMILIES.values()}


def test_a_missing_capability_is_named() -> None:
    model = create_model("shared-lora", **TINY_FIELDS["shared-lora"])
    with pytest.raises(CapabilityError, match="Grad-CAM needs a model with task_features.*Shared"):
        require(model, Capability.TASK_FEATURES, TaskFeatureModel, "Grad-CAM")
