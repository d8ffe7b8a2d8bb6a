"""Analysis of the LoRA weights a HyperCT hypernetwork generates per task (App. J of the paper).

Each task is represented by its flattened weight updates ``dW = (alpha/r) B A`` of all adapted
modules, concatenated (``representation="delta_w"``, the default), or by its concatenated raw
(A, B) factors (``"ab"``). The full vectors are never built: for ViT-B/16 they hold about 85 M
numbers per task. Everything needed (cosine similarities, PCA, MDS, clustering) follows from the
task x task Gram matrix of inner products, and for dW those come from r x r products:
``<B_i A_i, B_j A_j> = sum((B_i^T B_j) * (A_i A_j^T))``.

Outputs: PCA (kernel form of the centred Gram matrix) and classical MDS of the cosine
distances in 2-D, complete-linkage hierarchical clustering on cosine distance with k chosen by
silhouette over k = 2..8, and per-module mean cosine similarity between tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np
import pandas as pd
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.metrics import silhouette_score

from hyperct.models.interface import Capability, LoRAGeneratingModel
from hyperct.tasks import task_by_name

logger = logging.getLogger(__name__)

Representation = Literal["delta_w", "ab"]


@dataclass(frozen=True)
class LoRAAnalysisConfig:
    """How tasks are represented and how many clusters are tried."""

    representation: Representation = "delta_w"
    k_min: int = 2
    k_max: int = 8

    def __post_init__(self) -> None:
        if self.representation not in ("delta_w", "ab"):
            raise ValueError(
                f"representation must be 'delta_w' or 'ab', got {self.representation!r}"
            )
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"need 2 <= k_min <= k_max, got {self.k_min}, {self.k_max}")


@dataclass
class LoRAAnalysis:
    """Results for T tasks and M modules (see the module docstring)."""

    task_names: list[str]
    groups: list[str]
    representation: str
    similarity: np.ndarray  # (T, T) cosine similarity of the concatenated representation
    module_names: list[str]
    module_similarity: np.ndarray  # (M, T, T) cosine similarity per module
    pca: np.ndarray  # (T, 2)
    pca_explained: np.ndarray  # (2,) fraction of variance
    mds: np.ndarray  # (T, 2)
    linkage: np.ndarray  # scipy linkage matrix
    silhouette: dict[int, float]
    k: int
    clusters: np.ndarray  # (T,) cluster id 1..k

    @property
    def distance(self) -> np.ndarray:
        return np.clip(1.0 - self.similarity, 0.0, 2.0)


def module_gram_matrices(
    pairs: dict[str, tuple[torch.Tensor, torch.Tensor]],
    representation: Representation = "delta_w",
    scaling: float = 1.0,
) -> tuple[list[str], np.ndarray]:
    """Per-module Gram matrices (M, T, T) of the tasks' updates from ``generate_lora`` output
    (name -> (A (T, r, d_in), B (T, d_out, r)))."""
    names, grams = [], []
    for name, (lora_a, lora_b) in pairs.items():
        a, b = lora_a.detach().double().cpu(), lora_b.detach().double().cpu()
        if representation == "delta_w":
            bb = torch.einsum("iok,jol->ijkl", b, b)
            aa = torch.einsum("ikd,jld->ijkl", a, a)
            gram = (bb * aa).sum(dim=(-1, -2)) * scaling**2
        else:
            flat = torch.cat([a.flatten(1), b.flatten(1)], dim=1)
            gram = flat @ flat.T
        names.append(name)
        grams.append(gram.numpy())
    return names, np.stack(grams)


def cosine_from_gram(gram: np.ndarray) -> np.ndarray:
    """Cosine similarity from a Gram matrix; NaN rows/columns for zero vectors."""
    norms = np.sqrt(np.clip(np.diagonal(gram, axis1=-2, axis2=-1), 0.0, None))
    outer = norms[..., :, None] * norms[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(outer > 0, gram / outer, np.nan)


def kernel_pca(gram: np.ndarray, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """PCA coordinates (T, dims) and explained-variance fractions from a Gram matrix."""
    t = gram.shape[0]
    centre = np.eye(t) - 1.0 / t
    values, vectors = np.linalg.eigh(centre @ gram @ centre)
    values, vectors = values[::-1], vectors[:, ::-1]
    positive = np.clip(values, 0.0, None)
    coords = vectors[:, :dims] * np.sqrt(positive[:dims])
    total = positive.sum()
    return coords, (positive[:dims] / total if total > 0 else np.zeros(dims))


def classical_mds(distance: np.ndarray, dims: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS: coordinates whose distances best match ``distance``."""
    coords, _ = kernel_pca(-0.5 * distance**2, dims)
    return coords


def cluster_tasks(
    distance: np.ndarray, k_min: int = 2, k_max: int = 8
) -> tuple[np.ndarray, dict[int, float], int, np.ndarray]:
    """Complete-linkage clustering; k maximising the silhouette. Returns (linkage, silhouette
    per k, best k, cluster ids)."""
    condensed = squareform(distance, checks=False)
    tree = linkage(condensed, method="complete")
    scores: dict[int, float] = {}
    for k in range(k_min, min(k_max, distance.shape[0] - 1) + 1):
        labels = fcluster(tree, t=k, criterion="maxclust")
        if len(np.unique(labels)) > 1:
            scores[k] = float(silhouette_score(distance, labels, metric="precomputed"))
    if not scores:
        return tree, scores, 1, np.ones(distance.shape[0], dtype=int)
    best = max(scores, key=scores.get)
    return tree, scores, best, fcluster(tree, t=best, criterion="maxclust")


def analyse_lora(
    model: LoRAGeneratingModel,
    task_ids: Sequence[int] | None = None,
    config: LoRAAnalysisConfig = LoRAAnalysisConfig(),
) -> LoRAAnalysis:
    """Generate every task's LoRA with ``model.generate_lora`` and analyse it."""
    ids = list(range(model.num_tasks)) if task_ids is None else list(task_ids)
    pairs = model.generate_lora(ids)
    scaling = float(model.lora_scaling)
    names, grams = module_gram_matrices(pairs, config.representation, scaling)
    task_names = [model.task_names[i] for i in ids]
    return analyse_grams(task_names, names, grams, config)


def analyse_grams(
    task_names: list[str],
    module_names: list[str],
    grams: np.ndarray,
    config: LoRAAnalysisConfig = LoRAAnalysisConfig(),
) -> LoRAAnalysis:
    """The analysis from per-module Gram matrices (M, T, T); tasks with zero updates (an
    untrained zero-initialised model) raise, since no direction can be compared."""
    total = grams.sum(axis=0)
    zero = np.diagonal(total) <= 0
    if zero.any():
        raise ValueError(
            f"LoRA updates are zero for {int(zero.sum())} task(s), e.g. {task_names[int(np.argmax(zero))]!r}: "
            "an untrained model (B starts at zero) has nothing to analyse; use a trained checkpoint "
            "or representation='ab'"
        )
    similarity = cosine_from_gram(total)
    distance = np.clip(1.0 - similarity, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    pca, explained = kernel_pca(total)
    tree, scores, k, clusters = cluster_tasks(distance, config.k_min, config.k_max)
    logger.info(
        "LoRA analysis of %d tasks: k=%d clusters (silhouette %s)", len(task_names), k, scores
    )
    return LoRAAnalysis(
        task_names=task_names,
        groups=[_group(t) for t in task_names],
        representation=config.representation,
        similarity=similarity,
        module_names=module_names,
        module_similarity=cosine_from_gram(grams),
        pca=pca,
        pca_explained=explained,
        mds=classical_mds(distance),
        linkage=tree,
        silhouette=scores,
        k=k,
        clusters=clusters,
    )


def _group(name: str) -> str:
    try:
        return task_by_name(name).group
    except KeyError:
        return "added"


def analyse_checkpoint(
    checkpoint: str | Path, config: LoRAAnalysisConfig = LoRAAnalysisConfig()
) -> LoRAAnalysis:
    """Load a run's model (:func:`hyperct.inference.predict.load_trained_model`) and analyse
    it; a model that cannot generate LoRA (not HyperCT) raises ``TypeError`` naming the file."""
    from hyperct.inference.predict import load_trained_model

    model, _ = load_trained_model(checkpoint, device="cpu")
    if Capability.GENERATE_LORA not in model.capabilities:
        raise TypeError(
            f"{checkpoint}: a {type(model).__name__}, not a HyperCT model; no LoRA to analyse"
        )
    return analyse_lora(cast(LoRAGeneratingModel, model), config=config)


def analysis_table(analysis: LoRAAnalysis) -> pd.DataFrame:
    """One row per task: group, cluster, PCA and MDS coordinates."""
    return pd.DataFrame(
        {
            "task": analysis.task_names,
            "group": analysis.groups,
            "cluster": analysis.clusters,
            "pca_1": analysis.pca[:, 0],
            "pca_2": analysis.pca[:, 1],
            "mds_1": analysis.mds[:, 0],
            "mds_2": analysis.mds[:, 1],
        }
    )


def module_similarity_table(analysis: LoRAAnalysis) -> pd.DataFrame:
    """Long table of the per-module cosine similarity: module, task_a, task_b, cosine (a < b)."""
    upper = np.triu_indices(len(analysis.task_names), k=1)
    names = np.asarray(analysis.task_names)
    frames = [
        pd.DataFrame(
            {
                "module": module,
                "task_a": names[upper[0]],
                "task_b": names[upper[1]],
                "cosine": sim[upper],
            }
        )
        for module, sim in zip(analysis.module_names, analysis.module_similarity)
    ]
    return pd.concat(frames, ignore_index=True)
