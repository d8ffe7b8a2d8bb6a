"""Equal weighting (EW): the mean of the present tasks' losses."""

from __future__ import annotations

from torch import Tensor

from hyperct.mtl.base import LossWeighting


class EW(LossWeighting):
    """Equal weighting: ``L = (1/k) * sum_t L_t`` over the ``k`` present tasks.

    The usual multi-task baseline (linear scalarisation with equal weights). Each present task has
    weight ``1/k``; an absent task has weight 0 and its loss is not used, so the scale of the
    update does not depend on how many tasks a batch happens to carry.
    """

    def combine(self, losses: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        weights = present.to(losses.dtype) / present.sum()
        total = (losses[present] * weights[present]).sum()
        return total, weights
