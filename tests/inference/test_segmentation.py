"""A segmenting model's outputs: masks on the CT's own grid (real CTs), reports, fusion attention."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from hyperct.data.dataset import collate_scans
from hyperct.data.prepare import prepare_cache
from hyperct.inference.predict import split_dataset
from hyperct.inference.segmentation import (
    ATTENTION_CSV,
    MASKS_DIR,
    OutputFolder,
    catalogue_probs,
)
from hyperct.io.read import read_ct
from hyperct.io.volume import Volume
from hyperct.models.interface import Capability
from hyperct.models.report.tokenizer import ReportTokenizer, TokenizerConfig
from hyperct.models.unict import UniCT, UniCTConfig, UniCTPrediction
from hyperct.preprocess.grid_map import GridRecord
from hyperct.preprocess.pipeline import preprocess_mask
from hyperct.preprocess.spec import SpacingCropSpec
from hyperct.tasks import TASK_NAMES

#: 4 mm voxels: both CTs fit the crop (about 42 x 38 x 46 and 22 x 76 x 92 voxels), the grid pads.
SPEC = SpacingCropSpec(
    spacing_zyx=(4.0, 4.0, 4.0), pad_shape_zyx=(48, 80, 96), crop_shape_zyx=(44, 80, 96)
)
SCANS = ("ts_chest_crop.nii.gz", "ts_example_ct_sm.nii.gz")  # LPS and RAS on disk
CLASSES = ("Emphysema", "Lung nodule", "Pleural effusion")
SEG = ("1c", "2d")


@pytest.fixture(scope="module")
def real_cache(real_ct: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The two real CTs in a manifest (test split) and a 3 mm spacing-crop cache of them."""
    root = tmp_path_factory.mktemp("real_cache")
    rows = [
        {"scan_id": f"ct{i}", "patient_id": f"p{i}", "path": str(real_ct / name),
         "cohort": "internal", "split": "test", **{t: -1 for t in TASK_NAMES}}
        for i, name in enumerate(SCANS)
    ]
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    report = prepare_cache(root / "manifest.csv", SPEC, root / "cache", progress=False)
    assert report.ok, report.failed
    return root / "manifest.csv", root / "cache"


def _tiny_unict() -> UniCT:
    torch.manual_seed(0)
    tokenizer = ReportTokenizer.train(
        ["No effusion.", "Emphysema in both lungs.", "A small nodule."] * 4,
        TokenizerConfig(vocab_size=300, min_frequency=1),
    )
    config = UniCTConfig(
        encoder="volume3d", backbone3d="resnet10_3d", backbone3d_kwargs={"width": 4}, dim=16,
        heads=2, slice_window=3, classes=CLASSES, seg_classes=SEG, cls_latents=2,
        report_latents=3, seg_embed=4, seg_upsample=1,
        decoder={"width": 16, "layers": 1, "heads": 2, "max_len": 8},
    )
    return UniCT(config, tokenizer=tokenizer).eval()


def _loader(manifest: Path, cache: Path) -> DataLoader:
    dataset = split_dataset(pd.read_csv(manifest), cache, "test")
    return DataLoader(dataset, batch_size=2, collate_fn=collate_scans)


def test_unict_outputs_align_with_the_input_ct(
    real_cache: tuple[Path, Path], real_ct: Path, tmp_path: Path
) -> None:
    from hyperct.data.cache import ScanCache

    manifest, cache = real_cache
    model = _tiny_unict()
    folder = OutputFolder(tmp_path, model)
    preds = folder.predict(_loader(manifest, cache), ScanCache(cache).load_grid_record, False)
    files = folder.write_tables(*([t] for t in folder.tables()))

    assert preds.scan_ids == ["ct0", "ct1"] and preds.probs.shape == (2, len(TASK_NAMES))
    ours = [TASK_NAMES.index(t) for t in CLASSES]
    assert np.isfinite(preds.probs[:, ours]).all()
    assert np.isnan(np.delete(preds.probs, ours, axis=1)).all()
    for i, name in enumerate(SCANS):
        source, mask = nib.load(real_ct / name), nib.load(tmp_path / MASKS_DIR / f"ct{i}.nii.gz")
        assert mask.shape == (*source.shape, len(SEG)) and mask.get_data_dtype() == np.uint8
        np.testing.assert_allclose(mask.affine, source.affine, atol=1e-6)
        assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1}
    channels = json.loads((tmp_path / MASKS_DIR / "channels.json").read_text())
    assert channels == {"channels": list(SEG), "threshold": 0.5}

    reports = pd.read_csv(tmp_path / "reports.csv", keep_default_na=False)
    assert reports["scan_id"].tolist() == ["ct0", "ct1"]
    attention = pd.read_csv(tmp_path / ATTENTION_CSV)
    tasks = list(model.fusion_tasks)
    assert attention.columns.tolist() == ["scan_id", "query", *tasks]
    assert attention["query"].tolist() == tasks * 2  # each scan's rows in fusion order
    np.testing.assert_allclose(attention[tasks].sum(axis=1), 1.0, atol=1e-5)
    assert len(files) == 3


class OracleSegmenter(nn.Module):
    """Predicts the masks it is given (on the model crop), to test the way back to the CT."""

    capabilities = frozenset({Capability.SEGMENTATION})

    def __init__(self, masks: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.masks = masks
        self.anchor = nn.Parameter(torch.zeros(1))
        self.order: list[str] = []

    task_names = ["Emphysema"]
    segmentation_classes = ["2d"]
    fusion_tasks = ("classification", "segmentation")

    def predict(self, images, image_mask=None, generation=None) -> UniCTPrediction:  # noqa: ANN001
        masks = torch.stack([torch.from_numpy(self.masks[s]).float() for s in self.order])
        return UniCTPrediction(torch.full((len(images), 1), 0.5), masks[:, None], None, None)


def test_an_oracle_mask_comes_back_onto_the_ct(
    real_cache: tuple[Path, Path], real_ct: Path, tmp_path: Path
) -> None:
    from hyperct.data.cache import ScanCache

    manifest, cache = real_cache
    scans = ScanCache(cache)
    on_crop = {}
    for i, name in enumerate(SCANS):
        ct = read_ct(real_ct / name)
        body = (ct.array > -300).astype(np.uint8)  # body soft tissue and bone
        cached = preprocess_mask(Volume(body, ct.spacing, ct.affine), SPEC)
        record: GridRecord = scans.load_grid_record(f"ct{i}")
        window = tuple(slice(s, s + n) for s, n in zip(record.crop_start, record.crop_shape))
        on_crop[f"ct{i}"] = cached[window]
    model = OracleSegmenter(on_crop)
    model.order = ["ct0", "ct1"]
    folder = OutputFolder(tmp_path, model)
    folder.predict(_loader(manifest, cache), scans.load_grid_record, False)
    for i, name in enumerate(SCANS):
        back = np.asarray(nib.load(tmp_path / MASKS_DIR / f"ct{i}.nii.gz").dataobj)[..., 0] > 0
        truth = nib.load(real_ct / name).get_fdata() > -300  # voxel for voxel with the file
        dice = 2 * (back & truth).sum() / (back.sum() + truth.sum())
        assert dice > 0.9, (name, dice)
    assert np.isnan(catalogue_probs(np.zeros((1, 1)), ["Emphysema"])).sum() == len(TASK_NAMES) - 1
