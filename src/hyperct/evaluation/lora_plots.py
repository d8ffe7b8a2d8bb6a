"""Figures of the LoRA analysis: PCA and MDS maps, dendrogram, task and module similarity."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.cluster.hierarchy import dendrogram  # noqa: E402

from hyperct.evaluation.lora import LoRAAnalysis  # noqa: E402
from hyperct.tasks import TASK_NAMES, task_by_name  # noqa: E402

GROUP_COLOURS = {"conventional": "#1f77b4", "opportunistic": "#d95f02", "added": "#7570b3"}
_MARKERS = "osD^vP*Xhp"


def lora_figures(analysis: LoRAAnalysis) -> dict[str, Figure]:
    """All figures by file stem: lora_maps, lora_dendrogram, lora_similarity, lora_modules."""
    return {
        "lora_maps": maps_figure(analysis),
        "lora_dendrogram": dendrogram_figure(analysis),
        "lora_similarity": similarity_figure(analysis),
        "lora_modules": module_figure(analysis),
    }


def maps_figure(analysis: LoRAAnalysis) -> Figure:
    """PCA and MDS scatter of the tasks; colour = group, marker = cluster."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 6.2), layout="constrained")
    pc = analysis.pca_explained
    panels = (
        (axes[0], analysis.pca, f"PCA (PC1 {pc[0]:.0%}, PC2 {pc[1]:.0%} of variance)"),
        (axes[1], analysis.mds, "classical MDS of cosine distances"),
    )
    for ax, coords, title in panels:
        for i, name in enumerate(analysis.task_names):
            marker = _MARKERS[(analysis.clusters[i] - 1) % len(_MARKERS)]
            ax.scatter(*coords[i], color=GROUP_COLOURS[analysis.groups[i]], marker=marker, s=60)
            ax.annotate(
                _short(name), coords[i], fontsize=7, xytext=(4, 3), textcoords="offset points"
            )
        ax.set_title(title, fontsize=11)
        ax.grid(alpha=0.3)
    handles = [
        plt.Line2D([], [], color=c, marker="o", ls="", label=g)
        for g, c in GROUP_COLOURS.items()
        if g in analysis.groups
    ]
    handles += [
        plt.Line2D(
            [],
            [],
            color="#555",
            marker=_MARKERS[k % len(_MARKERS)],
            ls="",
            label=f"cluster {k + 1}",
        )
        for k in range(analysis.k)
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    fig.suptitle(f"Task LoRA maps ({_describe(analysis)})")
    return fig


def dendrogram_figure(analysis: LoRAAnalysis) -> Figure:
    """Complete-linkage dendrogram on cosine distance, leaves coloured by group."""
    fig, ax = plt.subplots(figsize=(14, 5.5), layout="constrained")
    labels = [_short(n) for n in analysis.task_names]
    dendrogram(
        analysis.linkage,
        labels=labels,
        ax=ax,
        leaf_rotation=70,
        leaf_font_size=8,
        color_threshold=_cut_height(analysis),
    )
    for tick in ax.get_xticklabels():
        tick.set_color(GROUP_COLOURS[_group_of_short(tick.get_text(), analysis)])
    ax.set_ylabel("cosine distance (complete linkage)")
    sil = ", ".join(f"k={k}: {s:.2f}" for k, s in analysis.silhouette.items())
    ax.set_title(f"Hierarchical clustering; k = {analysis.k} by silhouette ({sil})", fontsize=10)
    return fig


def similarity_figure(analysis: LoRAAnalysis) -> Figure:
    """Task x task cosine similarity, in dendrogram leaf order."""
    order = dendrogram(analysis.linkage, no_plot=True)["leaves"]
    sim = analysis.similarity[np.ix_(order, order)]
    fig, ax = plt.subplots(figsize=(10, 9), layout="constrained")
    low = float(np.nanmin(sim[~np.eye(len(order), dtype=bool)])) if len(order) > 1 else 0.0
    image = ax.imshow(sim, cmap="viridis", vmin=low, vmax=1.0)  # the range the data spans
    labels = [_short(analysis.task_names[i]) for i in order]
    ax.set_xticks(range(len(order)), labels, rotation=80, fontsize=7)
    ax.set_yticks(range(len(order)), labels, fontsize=7)
    for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
        for tick, i in zip(ticks, order):
            tick.set_color(GROUP_COLOURS[analysis.groups[i]])
    fig.colorbar(image, ax=ax, shrink=0.7, label="cosine similarity")
    ax.set_title(f"Cosine similarity of the tasks' LoRA ({_describe(analysis)})", fontsize=11)
    return fig


def module_figure(analysis: LoRAAnalysis) -> Figure:
    """Mean cosine similarity between tasks per module (block x module type): where the
    hypernetwork makes the tasks alike (high) or specific (low)."""
    blocks = sorted({int(n.split(".")[0]) for n in analysis.module_names})
    kinds = list(dict.fromkeys(n.split(".")[-1] for n in analysis.module_names))
    grid = np.full((len(kinds), len(blocks)), np.nan)
    t = len(analysis.task_names)
    off_diagonal = ~np.eye(t, dtype=bool)
    for name, sim in zip(analysis.module_names, analysis.module_similarity):
        grid[kinds.index(name.split(".")[-1]), blocks.index(int(name.split(".")[0]))] = np.nanmean(
            sim[off_diagonal]
        )
    fig, ax = plt.subplots(
        figsize=(max(6, 0.7 * len(blocks) + 3), 0.5 * len(kinds) + 2), layout="constrained"
    )
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    spread = float(np.nanmax(grid) - np.nanmin(grid))
    digits = int(np.clip(np.ceil(-np.log10(spread)) + 1, 2, 4)) if spread > 0 else 2
    ax.set_xticks(range(len(blocks)), [str(b) for b in blocks])
    ax.set_yticks(range(len(kinds)), kinds)
    ax.set_xlabel("block")
    for (r, c), value in np.ndenumerate(grid):
        if not np.isnan(value):
            bright = image.norm(value) > 0.6
            ax.text(
                c,
                r,
                f"{value:.{digits}f}",
                ha="center",
                va="center",
                fontsize=7,
                color="black" if bright else "white",
            )
    fig.colorbar(image, ax=ax, label="mean cosine similarity between tasks")
    ax.set_title("Per-module similarity of the tasks' LoRA", fontsize=11)
    return fig


def _describe(analysis: LoRAAnalysis) -> str:
    return (
        "flattened dW = (alpha/r) B A"
        if analysis.representation == "delta_w"
        else "concatenated A, B"
    )


def _cut_height(analysis: LoRAAnalysis) -> float:
    heights = np.sort(analysis.linkage[:, 2])
    k = analysis.k
    return float(heights[-(k - 1)] if 1 < k <= len(heights) else heights[-1] + 1)


def _short(name: str) -> str:
    return task_by_name(name).short_name if name in TASK_NAMES else name


def _group_of_short(label: str, analysis: LoRAAnalysis) -> str:
    shorts = [_short(n) for n in analysis.task_names]
    return analysis.groups[shorts.index(label)] if label in shorts else "added"
