"""Grad-CAM for one task of a HyperCT model, mapped from ViT patch tokens back to the CT grid,
and for a model whose logits come from one spatial feature map (UniCT's encoder map).

Grad-CAM (Selvaraju et al., ICCV 2017): the patch tokens A (N images x h x w x C) of a chosen
block, weighted per channel by the mean gradient of the task's logit over all positions of all
images of the scan (the scan is one 3-D feature map), summed over channels, ReLU. The model must
declare ``Capability.TASK_FEATURES`` (:class:`hyperct.models.interface.TaskFeatureModel`, e.g.
HyperCT): its ``forward_features`` gives the patch tokens of a chosen block. A model that
declares ``Capability.FEATURE_MAP`` (:class:`hyperct.models.interface.FeatureMapModel`, UniCT)
is explained on the feature map its logits are computed from (:func:`feature_map_gradcam`).

Mapping back (the 2.5D packing of :mod:`hyperct.preprocess.packing`): image j holds slices
3j, 3j+1, 3j+2 of the resized grid, so its in-plane map (upsampled from h x w to the grid's
size) is given to exactly those three slices; the padded last image is cut off. The grid map is
then resized to the original CT grid with the same trilinear convention the preprocessing used
to go the other way (``align_corners=False``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hyperct.models.interface import (
    Capability,
    FeatureMapModel,
    ScreeningModel,
    TaskFeatureModel,
    require,
)

#: Output of the second-to-last block = input of the last one. The last block's own patch outputs
#: get no gradient: only its CLS output feeds the head (the usual ViT Grad-CAM layer choice).
DEFAULT_BLOCK = -2


@dataclass
class CamResult:
    """``cam``: (N, h, w) non-negative per-image maps (not normalised); ``logit`` of the task."""

    cam: torch.Tensor
    logit: float


def gradcam(
    model: ScreeningModel,
    images: torch.Tensor,
    image_mask: torch.Tensor,
    task_id: int,
    block: int = DEFAULT_BLOCK,
) -> CamResult:
    """Grad-CAM of task ``task_id`` for one scan: images (N, 3, H, W), image_mask (N,)."""
    model = require(model, Capability.TASK_FEATURES, TaskFeatureModel, "Grad-CAM")
    task_ids = torch.tensor([task_id], device=images.device)
    with torch.enable_grad():
        features = model.forward_features(
            images[None], image_mask[None], task_ids, return_patch_tokens=True, block=block
        )
        tokens = features.patch_tokens
        if tokens is None or not tokens.requires_grad:
            raise ValueError(
                f"block {block}: its patch tokens carry no gradient (is it before the first "
                "LoRA-adapted block? choose a later block)"
            )
        logit = model.forward_head(features.cls, image_mask[None], task_ids)
        (grad,) = torch.autograd.grad(logit.sum(), tokens)
    if not torch.any(grad != 0):
        raise ValueError(
            f"block {block}: the task logit has zero gradient with respect to these patch tokens "
            "(the last block's patch outputs never reach the CLS token); use block -2 or earlier"
        )
    real = image_mask.to(tokens.device)
    acts, grads = tokens[0].detach()[real], grad[0][real]  # (n_real, h, w, C)
    weights = grads.mean(dim=(0, 1, 2))  # one weight per channel for the whole scan
    cam = F.relu((acts * weights).sum(dim=-1))
    full = torch.zeros((len(image_mask), *cam.shape[1:]), dtype=cam.dtype, device=cam.device)
    full[real] = cam
    return CamResult(cam=full.float().cpu(), logit=float(logit.detach().reshape(-1)[0]))


def feature_map_gradcam(
    model: ScreeningModel, images: torch.Tensor, image_mask: torch.Tensor | None, task_id: int
) -> CamResult:
    """Grad-CAM of task ``task_id`` for one scan on the feature map its logits are computed
    from (``Capability.FEATURE_MAP``, e.g. UniCT's encoder map): ``images`` as the model reads
    them with a batch of one. ``cam`` is ``(s, h, w)``: 3D, the map's slices; 2.5D, one
    in-plane map per image of three slices (padding images 0)."""
    model = require(model, Capability.FEATURE_MAP, FeatureMapModel, "Grad-CAM")
    with torch.enable_grad():
        feature_map, logits = model.feature_map_logits(images, image_mask)
        logit = logits[0, task_id]
        (grad,) = torch.autograd.grad(logit, feature_map)
    weights = grad[0].mean(dim=(1, 2, 3))  # one weight per channel for the whole scan
    cam = F.relu(torch.einsum("c,cshw->shw", weights, feature_map[0].detach()))
    if image_mask is not None:
        cam = cam * image_mask[0].to(cam.device, cam.dtype)[:, None, None]
    return CamResult(cam=cam.float().cpu(), logit=float(logit.detach()))


def cam_to_grid(cam: torch.Tensor, n_slices: int, size: tuple[int, int]) -> np.ndarray:
    """Per-image maps (N, h, w) -> map on the resized grid (n_slices, H, W): image j to
    slices 3j..3j+2, bilinear in-plane upsampling."""
    if cam.shape[0] * 3 < n_slices:
        raise ValueError(f"{cam.shape[0]} images cover {cam.shape[0] * 3} slices, not {n_slices}")
    planes = F.interpolate(cam[:, None].float(), size=size, mode="bilinear", align_corners=False)
    return planes[:, 0].repeat_interleave(3, dim=0)[:n_slices].numpy()


def grid_to_volume(grid_map: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Resize a (z, y, x) map from the model grid to the original CT grid ``shape``."""
    x = torch.from_numpy(np.ascontiguousarray(grid_map, dtype=np.float32))[None, None]
    out = F.interpolate(x, size=tuple(shape), mode="trilinear", align_corners=False)[0, 0]
    return out.clamp_(min=0.0).numpy()


def normalise(saliency: np.ndarray) -> np.ndarray:
    """Scale a non-negative map to [0, 1] (all zeros stays zeros)."""
    peak = float(saliency.max()) if saliency.size else 0.0
    return saliency / peak if peak > 0 else saliency
