"""Shared fixtures: the real files in ../shared/data and small helpers."""

import copy
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hyperct.io.volume import Volume

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA} (expected ../shared/data beside the clone)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def real_ct(shared_data: Path) -> Path:
    return shared_data / "real_ct"


_TINY_MODEL: dict[str, Any] = {
    "backbone": "dinov3-tiny",
    "rank": 2,
    "alpha": 2.0,
    "dropout": 0.0,
    "task_dim": 8,
    "module_dim": 4,
    "latent_dim": 8,
    "hyper_output_dim": 8,
    "num_residual_blocks": 1,
}


@pytest.fixture
def tiny_model() -> dict[str, Any]:
    """Model config fields of a random-init tiny HyperCT (baselines take the shared ones)."""
    return dict(_TINY_MODEL)


#: A small ReXGroundingCT copy: JSON split -> (CT-RATE volume, [(sentence, category code)]).
REX_SCANS: dict[str, list[tuple[str, list[tuple[str, str]]]]] = {
    "train": [
        (
            "train_1_a_1",
            [("Nodule in the right upper lobe.", "2d"), ("Emphysema in both apices.", "1c")],
        ),
        ("train_1_a_2", [("Small left pleural effusion.", "2e")]),
        ("train_2_a_1", [("Ground-glass opacity in the lingula.", "2c")]),
    ],
    "val": [("valid_5_a_1", [("Bronchiectasis in the lower lobes.", "1b")])],
    "test": [
        (
            "valid_6_b_2",
            [("Atelectasis at the left base.", "2b"), ("Linear opacity in the right lobe.", "2a")],
        )
    ],
}
REX_SHAPE = (8, 8, 6)
REX_AFFINE = np.diag([-0.75, -0.75, 1.5, 1.0])


def rex_mask(n: int, channel_axis: str = "first") -> np.ndarray:
    """Finding masks of ``n`` findings on the REX_SHAPE grid: channel k has 4 * (k + 1) voxels."""
    mask = np.zeros((n, *REX_SHAPE), np.uint8)
    for k in range(n):
        mask[k, 2:4, 2:4, 0 : k + 1] = 1
    return mask if channel_axis == "first" else np.moveaxis(mask, 0, 3)


@pytest.fixture
def rex_scans() -> dict[str, list[tuple[str, list[tuple[str, str]]]]]:
    """The scans :func:`rex_tree` builds by default (a deep copy, free to change)."""
    return copy.deepcopy(REX_SCANS)


@pytest.fixture
def rex_tree(tmp_path: Path) -> Callable[..., Path]:
    """Build ReXGroundingCT in the release's formats (dataset.json, 4-D masks, CT-RATE tree)."""
    import nibabel as nib

    def build(scans: dict = REX_SCANS, channel_axis: str = "first") -> Path:
        root = tmp_path / "rex"
        dataset: dict[str, list] = {}
        for split, items in scans.items():
            dataset[split] = []
            for scan_id, findings in items:
                prefix, patient, study, _ = scan_id.split("_")
                folder = root / prefix / f"{prefix}_{patient}" / f"{prefix}_{patient}_{study}"
                folder.mkdir(parents=True, exist_ok=True)
                ct = np.full(REX_SHAPE, -1000, np.int16)
                ct[1:7, 1:7, :] = 40
                nib.save(nib.Nifti1Image(ct, REX_AFFINE), folder / f"{scan_id}.nii.gz")
                (root / "segmentations").mkdir(parents=True, exist_ok=True)
                nib.save(
                    nib.Nifti1Image(rex_mask(len(findings), channel_axis), REX_AFFINE),
                    root / "segmentations" / f"{scan_id}.nii.gz",
                )
                dataset[split].append(
                    {
                        "name": f"{scan_id}.nii.gz",
                        "findings": {str(k): s for k, (s, _) in enumerate(findings)},
                        "categories": {str(k): c for k, (_, c) in enumerate(findings)},
                    }
                )
        (root / "dataset.json").write_text(json.dumps(dataset, indent=1))
        return root

    return build
@pytest.fixture
def one_torch_thread():  # noqa: ANN201 - a generator fixture
    """Tiny models gain nothing from threads; one avoids spinning on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _volume(has_blob: bool, has_ring: bool, rng: np.random.Generator) -> Volume:
    """A 12 x 32 x 32 HU volume: air, a water body, a bright blob and/or a dense ring."""
    z, y, x = np.mgrid[0:12, 0:32, 0:32]
    r = np.hypot(y - 16, x - 16)
    hu = np.where(r < 13, 0.0, -1000.0) + rng.normal(0, 30, (12, 32, 32))
    if has_blob:
        hu[4:9, 10:18, 10:18] = 700.0
    if has_ring:
        hu[(r > 9) & (r < 11)] = -900.0
    affine = np.array([[0, 0, -1.0, 0], [0, -1.0, 0, 0], [2.0, 0, 0, 0], [0, 0, 0, 1]])
    return Volume(hu.astype(np.int16), (2.0, 1.0, 1.0), affine)


@pytest.fixture(scope="session")
def cohort(tmp_path_factory) -> dict:
    """24 synthetic NIfTI scans with body masks, a manifest and a 9 x 32 x 32 slice-stack cache.

    Emphysema follows a bright blob and Cardiomegaly a dark ring, so both are learnable; a few
    other tasks carry random labels, the rest are missing (-1).
    """
    import pandas as pd

    from hyperct.data.prepare import prepare_cache
    from hyperct.io.write import write_nifti
    from hyperct.preprocess.spec import SliceStackSpec
    from hyperct.tasks import TASK_NAMES

    root = tmp_path_factory.mktemp("cohort")
    rng = np.random.default_rng(0)
    rows = []
    splits = ["train"] * 12 + ["val"] * 6 + ["test"] * 6
    for i, split in enumerate(splits):
        blob, ring = i % 2 == 0, i % 4 in (0, 3)
        volume = _volume(blob, ring, rng)
        path = write_nifti(volume, root / f"scan{i:02d}.nii.gz")
        body = (volume.array > -500).astype(np.uint8)  # anatomy mask: 1 = body, 0 = air
        mask = write_nifti(Volume(body, volume.spacing, volume.affine), root / f"mask{i:02d}.nii.gz")
        labels = {t: -1 for t in TASK_NAMES}
        labels.update({"Emphysema": int(blob), "Cardiomegaly": int(ring)})
        labels["Pleural effusion"] = int(rng.integers(0, 2)) if i % 3 else -1
        labels["Pulmonary hypertension"] = int(rng.integers(0, 2)) if i % 2 else -1
        cohort_name = "external" if split == "test" and (i // 2) % 2 else "internal"
        rows.append({"scan_id": f"s{i:02d}", "patient_id": f"p{i:02d}", "path": path.name,
                     "anatomy_path": mask.name, "cohort": cohort_name, "split": split, **labels})
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    report = prepare_cache(manifest, SliceStackSpec(slices=9, size=32), root / "cache", progress=False)
    assert report.ok, report.failed
    return {"manifest": str(manifest), "cache": str(root / "cache"), "root": root}


@pytest.fixture(scope="session")
def cache3d(cohort) -> str:
    """The cohort cached for the 3D methods: 2 mm voxels, 8 x 16 x 16 crops of 8 x 20 x 20."""
    from hyperct.data.prepare import prepare_cache
    from hyperct.preprocess.spec import SpacingCropSpec

    spec = SpacingCropSpec(spacing_zyx=(3.0, 2.0, 2.0), pad_shape_zyx=(8, 20, 20),
                           crop_shape_zyx=(8, 16, 16))
    report = prepare_cache(cohort["manifest"], spec, cohort["root"] / "cache3d", progress=False)
    assert report.ok, report.failed
    return str(cohort["root"] / "cache3d")


@pytest.fixture
def tiny_overrides(cohort, tiny_model, tmp_path) -> list[str]:
    """Dotted overrides for a seconds-long CPU HyperCT run on the synthetic cohort."""
    model = [f"model.{k}={v}" for k, v in tiny_model.items()]
    return [
        f"data.manifest={cohort['manifest']}", f"data.cache={cohort['cache']}",
        f"output_dir={tmp_path / 'run'}", *model, "optim.lr=3e-3", "optim.batch_size=4",
        "optim.epochs=2", "optim.step_size=2", "runtime.bf16=false", "runtime.progress=false",
        "runtime.device=cpu",
    ]


@pytest.fixture(scope="session")
def trained_run(cohort, tmp_path_factory) -> str:
    """A one-epoch tiny HyperCT run on the synthetic cohort (its folder), trained once."""
    from hyperct.training import load_config, train

    run = tmp_path_factory.mktemp("trained") / "run"
    model = [f"model.{k}={v}" for k, v in _TINY_MODEL.items()]
    train(load_config(None, [
        f"data.manifest={cohort['manifest']}", f"data.cache={cohort['cache']}", f"output_dir={run}",
        *model, "optim.lr=3e-3", "optim.batch_size=4", "optim.epochs=1", "runtime.bf16=false",
        "runtime.progress=false", "runtime.device=cpu",
    ]))
    return str(run)


#: A UniCT small enough to build, save and run on a real CT in seconds on a CPU.
TINY_UNICT: dict[str, Any] = {
    "encoder": "volume3d", "backbone3d": "resnet10_3d", "backbone3d_kwargs": {"width": 4},
    "dim": 16, "heads": 2, "slice_window": 3, "cls_latents": 2, "report_latents": 2,
    "seg_embed": 4, "seg_upsample": 1,
    "decoder": {"width": 16, "layers": 1, "heads": 2, "max_len": 8},
}
UNICT_REPORTS = ("Emphysema in both upper lobes.", "No emphysema. No pleural effusion.")


@pytest.fixture(scope="session")
def make_unict_run() -> Callable[..., Path]:
    """``make_unict_run(run, data=None, seg_classes=None)``: a random-weight UniCT run folder
    (best.pt built and saved as training saves it) with 4 mm voxels, so a real CT fits its crop;
    ``seg_classes`` default to the finding categories a cache records."""

    def make(run: Path, data: dict[str, str] | None = None,
             seg_classes: Sequence[str] | None = None) -> Path:
        from hyperct.config.run import config_from_dict, config_to_dict
        from hyperct.data.cache import MASK_CHANNELS
        from hyperct.inference.checkpoint import (
            MODEL_ASSETS,
            Checkpoint,
            save_checkpoint,
            trainable_state,
        )
        from hyperct.models.build import SEG_CLASSES, build_model
        from hyperct.models.report.tokenizer import ReportTokenizer, TokenizerConfig
        from hyperct.preprocess.spec import SpacingCropSpec
        from hyperct.tasks import TASK_NAMES

        spec = SpacingCropSpec(spacing_zyx=(4.0, 4.0, 4.0), pad_shape_zyx=(48, 80, 96),
                               crop_shape_zyx=(44, 80, 96))
        cfg = config_from_dict({
            "method": "unict", "unict": TINY_UNICT, "output_dir": str(run), "tasks": ["Emphysema"],
            "runtime": {"bf16": False, "device": "cpu"}, **({"data": data} if data else {}),
        })
        tokenizer = ReportTokenizer.train(list(UNICT_REPORTS) * 4,
                                          TokenizerConfig(vocab_size=300, min_frequency=1))
        assets = {SEG_CLASSES: list(seg_classes or MASK_CHANNELS), "tokenizer": tokenizer.to_state()}
        torch.manual_seed(0)
        model = build_model(cfg, assets).eval()
        with torch.no_grad():  # untrained masks sit at the decoder's 1 % prior: nearly empty
            model.seg_decoder.bias.zero_()  # even odds give masks with voxels to serve and score
        save_checkpoint(Checkpoint(model=trainable_state(model), config=config_to_dict(cfg),
                                   tasks=list(TASK_NAMES), spec=spec.to_dict(),
                                   backbone=model.backbone_identity(),
                                   extra={MODEL_ASSETS: assets}),
                        run / "best.pt")
        return run

    return make
