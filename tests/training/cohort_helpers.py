"""The synthetic cohort (../conftest.py) with a report per scan and, for UniCT, finding masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

#: Crops of the 3D cache (the same spec as the ``cache3d`` fixture).
SPEC3D = {"spacing_zyx": (3.0, 2.0, 2.0), "pad_shape_zyx": (8, 20, 20), "crop_shape_zyx": (8, 16, 16)}

#: A seconds-sized UniCT on the 8 x 16 x 16 crops of the 3D cache.
TINY_UNICT = [
    "method=unict", "unict.encoder=volume3d", "unict.backbone3d_kwargs={width: 4}", "unict.dim=16",
    "unict.heads=2", "unict.cls_latents=2", "unict.report_latents=2", "unict.seg_embed=4",
    "unict.seg_upsample=1", "unict.decoder={width: 16, layers: 1, heads: 2, max_len: 24}",
    "report.vocab_size=300", "tasks=[Emphysema, Cardiomegaly]",
]


def _report(row: pd.Series) -> str:
    """Words that follow the scan's two learnable findings (blob: emphysema, ring: cardiomegaly)."""
    lung = "Emphysema is seen." if row["Emphysema"] == 1 else "No emphysema."
    heart = "The heart is enlarged." if row["Cardiomegaly"] == 1 else "Heart size is normal."
    return f"{lung} {heart}"


def report_manifest(cohort: dict, folder: Path, empty: tuple[int, ...] = ()) -> Path:
    """The cohort's manifest with ``report_text`` (absolute paths); rows ``empty`` get none."""
    df = pd.read_csv(cohort["manifest"])
    df["path"] = [str(Path(cohort["root"]) / p) for p in df["path"]]
    df["anatomy_path"] = [str(Path(cohort["root"]) / p) for p in df["anatomy_path"]]
    df["report_text"] = [_report(row) for _, row in df.iterrows()]
    df.loc[list(empty), "report_text"] = np.nan
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.csv"
    df.to_csv(path, index=False)
    return path


def findings_manifest(cohort: dict, folder: Path, no_mask: tuple[int, ...] = ()) -> Path:
    """:func:`report_manifest` plus ``findings_mask_path``: each scan's bright blob as the
    Emphysema bit of a phantom-style task bitmask; rows ``no_mask`` have no mask."""
    from hyperct.io.read import read_ct
    from hyperct.io.volume import Volume
    from hyperct.io.write import write_nifti
    from hyperct.tasks import task_by_name

    path = report_manifest(cohort, folder)
    df = pd.read_csv(path)
    bit = np.uint32(1 << task_by_name("Emphysema").id)
    masks = []
    for i, ct_path in enumerate(df["path"]):
        if i in no_mask:
            masks.append(np.nan)
            continue
        ct = read_ct(ct_path)
        bits = np.where(ct.array > 500, bit, np.uint32(0)).astype(np.uint32)
        masks.append(str(write_nifti(Volume(bits, ct.spacing, ct.affine),
                                     folder / f"findings{i:02d}.nii.gz")))
    df["findings_mask_path"] = masks
    df.to_csv(path, index=False)
    return path


def straight_and_resumed(overrides: list[str], tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train 2 epochs unbroken and 1 + 1 with a resume; assert both ``last.pt`` hold the same
    epoch, model assets and weights, and return both histories (unbroken first)."""
    from hyperct.inference.checkpoint import load_checkpoint
    from hyperct.training import load_config, train

    train(load_config(None, [*overrides, f"output_dir={tmp_path / 'straight'}"]))
    broken = [*overrides, f"output_dir={tmp_path / 'broken'}"]
    train(load_config(None, [*broken, "optim.epochs=1"]))
    train(load_config(None, broken), resume=True)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "broken" / "last.pt")
    assert a.epoch == b.epoch == 2 and a.extra["model_assets"] == b.extra["model_assets"]
    assert all(torch.equal(a.model[k], b.model[k]) for k in a.model)
    return (pd.read_csv(tmp_path / "straight" / "history.csv"),
            pd.read_csv(tmp_path / "broken" / "history.csv"))
