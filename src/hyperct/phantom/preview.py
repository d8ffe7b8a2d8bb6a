"""PNG previews of a phantom scan: axial and coronal slices with the findings outlined."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperct.io.atomic import atomic_path
from hyperct.phantom.render import RenderedScan
from hyperct.tasks import CONVENTIONAL


def save_preview(scan: RenderedScan, path: str | Path, title: str = "") -> Path:
    """Four axial levels and one coronal slice (lung window) with each finding's outline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ct, fm = scan.volume.array, scan.findings_mask
    sz, sy, sx = scan.volume.spacing
    nz = ct.shape[0]
    fig, axes = plt.subplots(1, 5, figsize=(20, 4.6))
    views = [
        (ct[k], fm[k], 1.0, f"axial {k}") for k in (nz // 5, 2 * nz // 5, 3 * nz // 5, 4 * nz // 5)
    ]
    mid = ct.shape[1] // 2
    views.append((ct[::-1, mid, :], fm[::-1, mid, :], sz / sx, "coronal"))
    colors = matplotlib.colormaps["tab20"]
    for ax, (img, mask, aspect, name) in zip(axes, views):
        ax.imshow(img, cmap="gray", vmin=-1100, vmax=300, aspect=aspect, interpolation="bilinear")
        for t in CONVENTIONAL:
            bit = (mask >> np.uint32(t.id)) & np.uint32(1)
            if bit.any():
                ax.contour(bit, levels=[0.5], colors=[colors(t.id % 20)], linewidths=0.7)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    present = [t.short_name for t in CONVENTIONAL if ((fm >> np.uint32(t.id)) & np.uint32(1)).any()]
    fig.suptitle(f"{title}  findings: {', '.join(present) or 'none'}", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
    return path
