"""Drop the training-only segmentation heads from a model before it is saved for inference."""

from __future__ import annotations

import copy
import logging

from torch import nn

from hyperct.anatomy.heads import AuxSegHead

logger = logging.getLogger(__name__)


def export_inference_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every :class:`AuxSegHead` removed.

    The auxiliary head only shapes the backbone during training (MIDL 2025, "Scaling Supervision
    for Free"); the classifier's logits do not depend on it, so removing it leaves them unchanged.
    The input model is not modified.
    """
    exported = copy.deepcopy(model)
    removed = []
    for name, module in list(exported.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, AuxSegHead):
                setattr(module, child_name, None)
                removed.append(f"{name}.{child_name}" if name else child_name)
    if removed:
        logger.info("removed training-only segmentation heads: %s", ", ".join(removed))
    return exported.eval()
