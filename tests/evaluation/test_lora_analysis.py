import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from hyperct.evaluation.lora import (
    LoRAAnalysisConfig,
    analyse_grams,
    analyse_lora,
    analysis_table,
    classical_mds,
    module_similarity_table,
    module_gram_matrices,
)
from hyperct.evaluation.lora_plots import lora_figures
from hyperct.models.hyperct import HyperCT, HyperCTConfig
from hyperct.tasks import TASK_NAMES


@pytest.fixture(scope="module")
def model() -> HyperCT:
    """A tiny HyperCT whose LoRA heads are randomised (a fresh one has B = 0, so dW = 0)."""
    torch.manual_seed(0)
    config = HyperCTConfig(
        backbone="dinov3-tiny",
        task_dim=16,
        module_dim=8,
        latent_dim=16,
        hyper_output_dim=32,
        rank=4,
    )
    net = HyperCT(config)
    with torch.no_grad():
        for name, p in net.hypernetwork.named_parameters():
            if name.startswith("heads."):
                p.normal_(0.0, 0.2)
    return net


def test_gram_equals_flattened_delta_w(model: HyperCT) -> None:
    pairs = model.generate_lora(range(6))
    names, grams = module_gram_matrices(pairs, "delta_w", model.lora_scaling)
    explicit = []
    for name in names:
        a, b = pairs[name]
        explicit.append((model.lora_scaling * b.double() @ a.double()).flatten(1))
    flat = torch.cat(explicit, dim=1).numpy()
    np.testing.assert_allclose(grams.sum(0), flat @ flat.T, rtol=1e-9)
    # the per-module grams are the blocks of the same product
    first = explicit[0].numpy()
    np.testing.assert_allclose(grams[0], first @ first.T, rtol=1e-9)


def test_analysis_of_model_pca_matches_sklearn(model: HyperCT) -> None:
    analysis = analyse_lora(model)
    assert analysis.task_names == list(TASK_NAMES)
    assert analysis.similarity.shape == (25, 25)
    np.testing.assert_allclose(np.diag(analysis.similarity), 1.0)
    assert analysis.module_similarity.shape == (len(model.module_names), 25, 25)
    pairs = model.generate_lora(range(25))
    flat = torch.cat(
        [(model.lora_scaling * b.double() @ a.double()).flatten(1) for a, b in pairs.values()],
        dim=1,
    ).numpy()
    reference = PCA(2).fit(flat)
    np.testing.assert_allclose(
        analysis.pca_explained, reference.explained_variance_ratio_, rtol=1e-6
    )
    np.testing.assert_allclose(np.abs(analysis.pca), np.abs(reference.transform(flat)), atol=1e-8)
    assert 2 <= analysis.k <= 8 and len(analysis.silhouette) == 7
    assert len(analysis_table(analysis)) == 25
    assert len(module_similarity_table(analysis)) == len(model.module_names) * 25 * 24 // 2
    assert set(lora_figures(analysis)) == {
        "lora_maps",
        "lora_dendrogram",
        "lora_similarity",
        "lora_modules",
    }


def test_planted_clusters_are_found() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 50))
    vectors = np.repeat(centres, 4, axis=0) + 0.05 * rng.normal(size=(12, 50))
    grams = (vectors @ vectors.T)[None]
    analysis = analyse_grams([f"t{i}" for i in range(12)], ["0.attention.q_proj"], grams)
    assert analysis.k == 3
    assert len(set(analysis.clusters[:4])) == 1 and len(set(analysis.clusters)) == 3


def test_mds_recovers_euclidean_layout() -> None:
    points = np.random.default_rng(1).normal(size=(8, 2))
    distance = np.linalg.norm(points[:, None] - points[None], axis=-1)
    coords = classical_mds(distance)
    np.testing.assert_allclose(
        np.linalg.norm(coords[:, None] - coords[None], axis=-1), distance, atol=1e-8
    )


def test_zero_lora_is_refused_with_a_reason() -> None:
    grams = np.zeros((1, 3, 3))
    with pytest.raises(ValueError, match="untrained"):
        analyse_grams(["a", "b", "c"], ["0.attention.q_proj"], grams, LoRAAnalysisConfig())
