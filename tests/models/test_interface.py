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
from hyperct.models.report.tokenizer import ReportTokenizer, TokenizerConfig

_TOKENIZER = ReportTokenizer.train(
    ["No pleural effusion.", "The heart is enlarged.", "Emphysema is seen."] * 3,
    TokenizerConfig(vocab_size=300),
)

#: A seconds-sized config of each family; a family registered without one fails the test below.
TINY_FIELDS: dict[str, dict] = {
    "hyperct": {"backbone": "dinov3-tiny", "task_dim": 8, "module_dim": 4, "latent_dim": 8,
                "hyper_output_dim": 8, "rank": 2, "num_tasks": 4},
    "shared-lora": {"backbone": "dinov3-tiny", "rank": 2, "num_tasks": 4},
    "classifier3d": {"backbone": "resnet18_3d", "backbone_kwargs": {"width": 4}, "num_tasks": 4},
    "report3d": {"encoder_kwargs": {"width": 4}, "token_grid": (1, 2, 2),
                 "width": 16, "layers": 1, "heads": 2, "max_len": 12},
    "unict": {"encoder": "volume3d", "backbone3d_kwargs": {"width": 4}, "dim": 16, "heads": 2,
              "classes": ("a", "b", "c", "d"), "seg_classes": ("1a", "2d"), "seg_embed": 4,
              "seg_upsample": 1, "supervise_report": False},
}
#: The report tokenizer of the families that need one.
TOKENIZERS = {"report3d": _TOKENIZER}
#: Task outputs of each tiny config (a report generator classifies nothing).
TASKS = {"hyperct": 4, "shared-lora": 4, "classifier3d": 4, "report3d": 0, "unict": 4}


def _inputs(section: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(0)
    if section in ("model3d", "report", "unict"):
        return torch.randn(2, 1, 16, 16, 16, generator=g), None
    return torch.randn(2, 3, 3, 32, 32, generator=g), torch.tensor([[True] * 3, [True, True, False]])


def test_every_family_has_a_tiny_config_here() -> None:
    assert set(TINY_FIELDS) == set(FAMILIES)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_implements_the_interface_and_its_capabilities(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, TOKENIZERS.get(name), **TINY_FIELDS[name])
    assert isinstance(model, ScreeningModel)
    for capability in model.capabilities:
        assert isinstance(model, PROTOCOLS[capability]), capability
    images, mask = _inputs(FAMILIES[name].section)
    with torch.no_grad():
        logits = model.eval().predict_all(images, mask)
    assert logits.shape == (2, len(model.task_names)) == (2, TASKS[name])
    assert model.feature_width > 0
    assert set(model.backbone_identity()) == {"name", "sha256"}

    state = {k: v.clone() for k, v in model.trainable_state_dict().items()}
    torch.manual_seed(0)  # the same frozen backbone, whose weights are not in the state
    other = create_model(name, TOKENIZERS.get(name), **TINY_FIELDS[name]).eval()
    other.load_trainable_state_dict(
        {k: v + 0.5 if v.is_floating_point() else v for k, v in state.items()}
    )
    output = _output(model, images, mask)
    with torch.no_grad():
        assert not torch.allclose(_output(other, images, mask), output)
        other.load_trainable_state_dict(state)
        torch.testing.assert_close(_output(other, images, mask), output)


def _output(model: ScreeningModel, images: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """What the weights decide: the logits, or for a report generator its report loss."""
    if Capability.REPORT_GENERATION in model.capabilities:
        with torch.no_grad():
            return model.report_loss(images, ["no pleural effusion.", "emphysema is seen."])
    with torch.no_grad():
        return model.predict_all(images, mask)


def test_every_method_builds_a_registered_family() -> None:
    from hyperct.config.run import METHODS

    assert {family_of(m).model for m in METHODS} == {f.model for f in FAMILIES.values()}


def test_a_missing_capability_is_named() -> None:
    model = create_model("shared-lora", **TINY_FIELDS["shared-lora"])
    with pytest.raises(CapabilityError, match="Grad-CAM needs a model with task_features.*Shared"):
        require(model, Capability.TASK_FEATURES, TaskFeatureModel, "Grad-CAM")
