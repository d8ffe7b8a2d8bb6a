"""PNG overlays on axial CT slices: a saliency map, or a predicted mask beside its reference."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

LUNG_WINDOW = (-1000.0, 400.0)


def pick_slices(saliency: np.ndarray, count: int = 6) -> list[int]:
    """The ``count`` axial slices with the most saliency mass, at least 2 slices apart when
    possible, in inferior-to-superior order."""
    mass = saliency.reshape(saliency.shape[0], -1).sum(axis=1)
    chosen: list[int] = []
    gap = 2 if saliency.shape[0] >= 2 * count else 0
    for index in np.argsort(-mass, kind="stable"):
        if all(abs(int(index) - c) > gap for c in chosen):
            chosen.append(int(index))
        if len(chosen) == count:
            break
    return sorted(chosen)


def axial_overlay_figure(
    hu: np.ndarray,
    saliency: np.ndarray,
    title: str,
    count: int = 6,
    window: tuple[float, float] = LUNG_WINDOW,
) -> Figure:
    """CT (grey, ``window`` in HU) with the [0, 1] saliency as a translucent heat map on the
    slices of highest saliency; slices shown in radiological convention (``array[k]``)."""
    slices = pick_slices(saliency, count)
    fig, axes = plt.subplots(
        1, len(slices), figsize=(2.6 * len(slices), 3.0), squeeze=False, layout="constrained"
    )
    for ax, k in zip(axes[0], slices):
        ax.imshow(hu[k], cmap="gray", vmin=window[0], vmax=window[1], interpolation="bilinear")
        heat = np.ma.masked_less(saliency[k], 0.05)
        ax.imshow(heat, cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0, interpolation="bilinear")
        ax.set_title(f"slice {k}", fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return fig


def axial_mask_figure(
    image: np.ndarray,
    predicted: np.ndarray,
    reference: np.ndarray | None,
    title: str,
    window: tuple[float, float] = LUNG_WINDOW,
    at: int | None = None,
) -> Figure:
    """One axial slice of ``image`` with a predicted mask (a translucent fill) and, when given,
    the reference mask (its outline), all ``(z, y, x)`` on one grid. The slice is ``at``, else
    the one with the most reference voxels (else the most predicted ones), so by default the
    choice never depends on how good the prediction is."""
    if predicted.shape != image.shape or (reference is not None and reference.shape != image.shape):
        raise ValueError(f"masks must be on the image grid {image.shape}, got {predicted.shape}"
                         f"{'' if reference is None else f' and {reference.shape}'}")
    if at is not None and not 0 <= at < image.shape[0]:
        raise ValueError(f"slice {at} is outside the image's {image.shape[0]} slices")
    k = at if at is not None else pick_slices(
        (reference if reference is not None and reference.any() else predicted).astype(float),
        count=1)[0]
    fig, ax = plt.subplots(figsize=(3.6, 3.8), layout="constrained")
    ax.imshow(image[k], cmap="gray", vmin=window[0], vmax=window[1], interpolation="bilinear")
    ax.imshow(np.ma.masked_equal(predicted[k].astype(float), 0.0), cmap="autumn", alpha=0.5,
              vmin=0.0, vmax=1.0, interpolation="nearest")
    if reference is not None and reference[k].any():
        ax.contour(reference[k].astype(float), levels=[0.5], colors="cyan", linewidths=1.0)
    ax.set_title(f"{title}\nslice {k}: predicted (fill), reference (outline)", fontsize=8)
    ax.axis("off")
    return fig
