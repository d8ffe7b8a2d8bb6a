"""Figures of the report: ROC curves, decision curves and reliability diagrams, one panel per task.

All figures use matplotlib's Agg backend (no display needed) and one colour per model, the same
in every figure. :func:`save_png` writes atomically; :func:`png_base64` gives the data URI the HTML
report embeds.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from hyperct.evaluation.calibration import reliability_bins  # noqa: E402
from hyperct.inference.predictions import LABEL, PROB, TASK  # noqa: E402
from hyperct.io.atomic import atomic_path  # noqa: E402
from hyperct.tasks import TASK_NAMES, task_by_name  # noqa: E402

COLUMNS_PER_ROW = 5
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def model_colours(models: Sequence[str]) -> dict[str, str]:
    """A fixed colour per model label, in the order given."""
    return {m: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(models)}


def roc_figure(df: pd.DataFrame, models: Sequence[str], title: str) -> Figure:
    """ROC curve per task (rows with a ``model`` column; label -1 rows are dropped)."""
    known = df[df[LABEL] != -1]
    colours = model_colours(models)

    def draw(ax: plt.Axes, task_rows: pd.DataFrame) -> None:
        ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.8, ls=":")
        for model, rows in task_rows.groupby("model", sort=False):
            if rows[LABEL].nunique() == 2:
                fpr, tpr, _ = roc_curve(rows[LABEL], rows[PROB])
                ax.plot(fpr, tpr, color=colours[model], lw=1.2)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)

    fig = _task_grid(known, draw, title, "1 - specificity", "sensitivity")
    _legend(fig, colours, extra=[("chance", "#bbbbbb", ":")])
    return fig


def decision_curve_figure(curves: pd.DataFrame, models: Sequence[str], title: str) -> Figure:
    """Net benefit per task: each model, treat-all (grey dashed) and treat-none (black)."""
    colours = model_colours(models)

    def draw(ax: plt.Axes, task_rows: pd.DataFrame) -> None:
        first = task_rows[task_rows["model"] == task_rows["model"].iloc[0]]
        ax.plot(first["threshold"], first["net_benefit_all"], color="#888888", lw=1, ls="--")
        ax.axhline(0.0, color="black", lw=0.8)
        for model, rows in task_rows.groupby("model", sort=False):
            ax.plot(rows["threshold"], rows["net_benefit_model"], color=colours[model], lw=1.2)
        top = max(
            float(task_rows["net_benefit_model"].max()), float(first["net_benefit_all"].max()), 0.01
        )
        ax.set_ylim(-0.25 * top, 1.1 * top)
        ax.set_xlim(0, float(task_rows["threshold"].max()))

    fig = _task_grid(curves, draw, title, "threshold probability", "net benefit")
    _legend(fig, colours, extra=[("treat all", "#888888", "--"), ("treat none", "black", "-")])
    return fig


def calibration_figure(df: pd.DataFrame, models: Sequence[str], title: str) -> Figure:
    """Reliability diagram per task (10 equal-width bins; marker area grows with the count)."""
    known = df[df[LABEL] != -1]
    colours = model_colours(models)

    def draw(ax: plt.Axes, task_rows: pd.DataFrame) -> None:
        ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.8, ls=":")
        for model, rows in task_rows.groupby("model", sort=False):
            bins = reliability_bins(rows[LABEL], rows[PROB])
            size = 6 + 40 * bins["count"] / bins["count"].max()
            ax.plot(bins["mean_predicted"], bins["observed_rate"], color=colours[model], lw=1)
            ax.scatter(bins["mean_predicted"], bins["observed_rate"], s=size, color=colours[model])
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)

    fig = _task_grid(known, draw, title, "mean predicted probability", "observed rate")
    _legend(fig, colours, extra=[("perfect", "#bbbbbb", ":")])
    return fig


def attention_figure(matrix: pd.DataFrame, title: str) -> Figure:
    """Heat map of an attention matrix: query tasks as rows, key tasks as columns, each cell
    labelled with its weight (the paper's fusion attention plot)."""
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(matrix.columns), 1.2 + 1.0 * len(matrix)))
    image = ax.imshow(matrix.to_numpy(dtype=float), cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(matrix.columns)), list(matrix.columns), rotation=30, ha="right")
    ax.set_yticks(range(len(matrix.index)), list(matrix.index))
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query")
    for (i, j), value in np.ndenumerate(matrix.to_numpy(dtype=float)):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center",
                color="black" if value > 0.6 else "white", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_png(fig: Figure, path: str | Path, dpi: int = 90) -> Path:
    """Save a figure as PNG atomically and close it."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return path


def png_base64(path: str | Path) -> str:
    """The PNG file as a ``data:`` URI for an ``<img src=...>``."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _task_grid(
    rows: pd.DataFrame,
    draw: Callable[[plt.Axes, pd.DataFrame], None],
    title: str,
    xlabel: str,
    ylabel: str,
) -> Figure:
    tasks = [t for t in TASK_NAMES if t in set(rows[TASK].unique())]
    n_rows = max(1, math.ceil(len(tasks) / COLUMNS_PER_ROW))
    fig, axes = plt.subplots(
        n_rows,
        COLUMNS_PER_ROW,
        figsize=(3.0 * COLUMNS_PER_ROW, 2.7 * n_rows + 0.9),
        squeeze=False,
        layout="constrained",
    )
    for ax, task in zip(axes.flat, tasks):
        draw(ax, rows[rows[TASK] == task])
        group = task_by_name(task).group
        ax.set_title(
            _wrap(task), fontsize=9, color="#8a3b00" if group == "opportunistic" else "black"
        )
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25, lw=0.5)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.set_visible(False)
    fig.suptitle(f"{title}: {ylabel} against {xlabel}", fontsize=12)
    return fig


def _legend(fig: Figure, colours: dict[str, str], extra: Sequence[tuple[str, str, str]]) -> None:
    handles = [plt.Line2D([], [], color=c, lw=2, label=m) for m, c in colours.items()]
    handles += [plt.Line2D([], [], color=c, lw=1, ls=ls, label=n) for n, c, ls in extra]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(len(handles), 6),
        fontsize=9,
        frameon=False,
    )


def _wrap(name: str, width: int = 30) -> str:
    if len(name) <= width:
        return name
    cut = name.rfind(" ", 0, width)
    return name[:cut] + "\n" + name[cut + 1 :] if cut > 0 else name
