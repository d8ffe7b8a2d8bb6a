"""CT-RATE (Hamamci et al., 2024) -> hyperct manifest.

Layout read (the Hugging Face release; ``ROOT`` may also hold these under ``dataset/``)::

    ROOT/train/train_1/train_1_a/train_1_a_1.nii.gz     patient train_1, study a, reconstruction 1
    ROOT/valid/valid_1/valid_1_a/valid_1_a_1.nii.gz
    ROOT/**/*metadata*.csv                  VolumeName, RescaleSlope, RescaleIntercept, XYSpacing,
                                            ZSpacing, PatientSex, PatientAge, StudyDate, ...
    ROOT/**/*predicted_labels*.csv          VolumeName + the 18 findings (0/1)
    ROOT/**/*reports*.csv                   VolumeName, Findings_EN, Impressions_EN, ...

HU: depending on the release, volumes hold stored values (to be rescaled with the metadata's
slope/intercept) or are already in HU. The adapter records the metadata rescale in the manifest
(``rescale_slope``, ``rescale_intercept``) and ``prepare`` applies it only to volumes that are not
already in HU, deciding per scan from its values (:func:`hyperct.io.hu.apply_metadata_rescale`)
and logging the decision. ``check_hu`` volumes are read here to log that decision up front.
The 7 opportunistic (echo) tasks are -1: CT-RATE has no echocardiograms.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from hyperct.data.adapters.common import carve_val_split, relative_to, with_missing_labels
from hyperct.data.manifest import write_manifest
from hyperct.data.merge import merge_labels

logger = logging.getLogger(__name__)

SPLIT_FOLDERS = {"train": "train", "valid": "test"}
_VOLUME = re.compile(r"^(?P<split>train|valid)_(?P<patient>\d+)_(?P<study>[a-z]+)_(?P<recon>\d+)$")


def adapt_ctrate(
    root: str | Path,
    out: str | Path,
    cohort: str = "ctrate",
    valid_split: str = "test",
    val_fraction: float = 0.1,
    seed: int = 0,
    check_hu: int = 1,
) -> pd.DataFrame:
    """Write a manifest for a CT-RATE folder; CT-RATE ``valid`` becomes ``valid_split``.

    ``val_fraction`` of the training patients go to 'val' (patient-level, seeded): CT-RATE has
    no validation split of its own, and model selection needs one.
    """
    root, out = Path(root), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    volumes = _find_volumes(root)
    df = _volume_table(volumes, out.parent, cohort, valid_split)
    meta = _read_csvs(root, "*metadata*.csv")
    df = _add_metadata(df, meta)
    df = _add_reports(df, _read_csvs(root, "*reports*.csv"))
    df = with_missing_labels(df)
    labels = _read_csvs(root, "*predicted_labels*.csv")
    if labels is not None:
        df = merge_labels(
            df,
            labels.assign(VolumeName=labels["VolumeName"].map(volume_id)),
            id_column="VolumeName",
        )
    else:
        logger.warning("%s: no *predicted_labels*.csv found; the 18 findings are -1", root)
    df = carve_val_split(df, val_fraction, seed)
    _check_sample_volumes(df, meta, out.parent, check_hu)
    write_manifest(df, out)
    logger.info(
        "CT-RATE: wrote %d scans of %d patients to %s", len(df), df["patient_id"].nunique(), out
    )
    return df


def _find_volumes(root: Path) -> list[Path]:
    base = (
        root / "dataset" if (root / "dataset").is_dir() and not (root / "train").is_dir() else root
    )
    volumes = sorted(p for folder in SPLIT_FOLDERS for p in (base / folder).rglob("*.nii.gz"))
    if not volumes:
        raise FileNotFoundError(
            f"{root}: no CT-RATE volumes (train/**/*.nii.gz, valid/**/*.nii.gz)"
        )
    return volumes


def volume_id(name: str) -> str:
    """CT-RATE's VolumeName (``train_1_a_1.nii.gz``) -> its scan id (``train_1_a_1``)."""
    return str(name).strip().removesuffix(".gz").removesuffix(".nii")


def patient_id_of(scan_id: str, source: str) -> str:
    """The patient of a CT-RATE scan (``train_123_a_1`` -> ``train_123``); errors name ``source``."""
    match = _parse(scan_id, source)
    return f"{match['split']}_{match['patient']}"


def volume_relpath(scan_id: str, source: str) -> Path:
    """Where CT-RATE keeps a scan: ``train/train_1/train_1_a/train_1_a_1.nii.gz``."""
    match = _parse(scan_id, source)
    patient = f"{match['split']}_{match['patient']}"
    return Path(match["split"], patient, f"{patient}_{match['study']}", f"{scan_id}.nii.gz")


def _parse(scan_id: str, source: str) -> re.Match[str]:
    match = _VOLUME.match(scan_id)
    if match is None:
        raise ValueError(
            f"{source}: file name does not follow CT-RATE's <split>_<patient>_<study>_<recon>.nii.gz"
        )
    return match


def _volume_table(
    volumes: list[Path], manifest_dir: Path, cohort: str, valid_split: str
) -> pd.DataFrame:
    rows = []
    for path in volumes:
        scan_id = volume_id(path.name)
        patient = patient_id_of(scan_id, source=str(path))
        split = "train" if patient.startswith("train_") else valid_split
        rows.append(
            {
                "scan_id": scan_id,
                "patient_id": patient,
                "cohort": cohort,
                "split": split,
            }
        )
    df = pd.DataFrame(rows)
    df["path"] = relative_to(volumes, manifest_dir)
    return df


def _read_csvs(root: Path, pattern: str) -> pd.DataFrame | None:
    return read_volume_tables(sorted(root.rglob(pattern)))


def read_volume_tables(files: list[Path]) -> pd.DataFrame | None:
    """Concatenate CT-RATE CSVs keyed by VolumeName (None for no files); others are refused."""
    if not files:
        return None
    frames = []
    for f in files:
        frame = pd.read_csv(f)
        if "VolumeName" not in frame.columns:
            raise ValueError(f"{f}: expected a VolumeName column, found {list(frame.columns)[:8]}")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _add_metadata(df: pd.DataFrame, meta: pd.DataFrame | None) -> pd.DataFrame:
    if meta is None:
        logger.warning(
            "no CT-RATE metadata CSV found: no rescale recorded, volumes are read as they are"
        )
        return df
    meta = (
        meta.assign(scan_id=meta["VolumeName"].map(volume_id))
        .drop_duplicates("scan_id")
        .set_index("scan_id")
    )
    out = df.copy()
    columns = {
        "RescaleSlope": "rescale_slope",
        "RescaleIntercept": "rescale_intercept",
        "PatientSex": "sex",
        "StudyDate": "study_date",
    }
    for source, target in columns.items():
        if source in meta.columns:
            out[target] = out["scan_id"].map(meta[source])
    if "PatientAge" in meta.columns:
        out["age"] = out["scan_id"].map(meta["PatientAge"]).map(_age_years)
    unmatched = int(out["scan_id"].isin(meta.index).eq(False).sum())
    if unmatched:
        logger.warning("%d volume(s) have no metadata row: no rescale recorded for them", unmatched)
    logger.info(
        "CT-RATE HU: metadata RescaleSlope/RescaleIntercept recorded per scan; prepare applies them only to "
        "volumes not already in HU (decided per scan from the values), never twice"
    )
    return out


def _age_years(value: object) -> float | None:
    match = re.match(r"^\s*(\d+)\s*Y?\s*$", str(value))
    return float(match.group(1)) if match else None


def _add_reports(df: pd.DataFrame, reports: pd.DataFrame | None) -> pd.DataFrame:
    if reports is None:
        return df
    out = df.copy()
    out["report_text"] = out["scan_id"].map(report_texts(reports)).fillna("")
    return out


def report_texts(reports: pd.DataFrame) -> pd.Series:
    """One report text per scan id, from CT-RATE's Findings_EN and Impressions_EN columns."""
    reports = (
        reports.assign(scan_id=reports["VolumeName"].map(volume_id))
        .drop_duplicates("scan_id")
        .set_index("scan_id")
    )
    parts = [c for c in ("Findings_EN", "Impressions_EN") if c in reports.columns]
    return (
        reports[parts]
        .fillna("")
        .astype(str)
        .apply(
            lambda r: "\n".join(f"{c.removesuffix('_EN')}: {v}" for c, v in r.items() if v.strip()),
            axis=1,
        )
    )


def _check_sample_volumes(
    df: pd.DataFrame, meta: pd.DataFrame | None, manifest_dir: Path, n: int
) -> None:
    """Read ``n`` volumes: log the HU decision, warn when header and metadata spacing disagree."""
    if n <= 0 or meta is None:
        return
    from hyperct.io.hu import apply_metadata_rescale
    from hyperct.io.read import read_ct

    meta = meta.assign(scan_id=meta["VolumeName"].map(volume_id)).set_index("scan_id")
    for row in df[df["scan_id"].isin(meta.index)].head(n).itertuples():
        volume = read_ct(manifest_dir / row.path)
        if str(row.rescale_slope) not in ("", "nan") and str(row.rescale_intercept) not in (
            "",
            "nan",
        ):
            volume = apply_metadata_rescale(
                volume, float(row.rescale_slope), float(row.rescale_intercept)
            )
            logger.info("CT-RATE HU check on %s: %s", row.scan_id, volume.meta["hu_rescale"])
        expected = _metadata_spacing(meta.loc[row.scan_id])
        if expected is not None and not np.allclose(volume.spacing, expected, rtol=0.02):
            logger.warning(
                "%s: NIfTI header spacing %s mm (z, y, x) differs from the metadata's %s; "
                "spacing-based specs (anatomy3d) follow the header",
                row.scan_id,
                volume.spacing,
                expected,
            )


def _metadata_spacing(meta_row: pd.Series) -> tuple[float, float, float] | None:
    """(z, y, x) spacing from CT-RATE's ZSpacing and XYSpacing ("[0.75, 0.75]") fields."""
    try:
        xy = [float(v) for v in str(meta_row["XYSpacing"]).strip("[]() ").split(",")]
        return float(meta_row["ZSpacing"]), xy[0], xy[1]
    except (KeyError, ValueError, IndexError):
        return None
