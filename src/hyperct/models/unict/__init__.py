"""UniCT (MICCAI 2026): classification, segmentation and report generation from one chest CT.

Modules: ``config`` (:class:`UniCTConfig`), ``encoders`` (slice and global tokens),
``adapters`` (one latent per task), ``fusion`` (cross-task attention), ``modulation``
(segmentation-conditioned FiLM), ``heads`` (classification and segmentation), ``losses``
(per-task losses, missing targets ignored) and ``model`` (:class:`UniCT`).
"""

from hyperct.models.unict.config import UniCTConfig
from hyperct.models.unict.losses import UniCTOutput, UniCTTargets, total_loss
from hyperct.models.unict.model import UniCT, UniCTPrediction

__all__ = ["UniCT", "UniCTConfig", "UniCTOutput", "UniCTPrediction", "UniCTTargets", "total_loss"]
