"""RAD-ChestCT (Draelos et al., 2021) -> hyperct manifest.

Volumes are numpy archives (``trn00001.npz``, ``val00001.npz``, ``tst00001.npz``: the prefix
gives the split) read by :mod:`hyperct.io.npz`. Labels come from a CSV with one row per volume,
its first column (or ``id_column``) the volume name, and one 0/1 column per abnormality, either
``abnormality`` or ``abnormality*location`` (location columns are combined with "any").

Mapping onto the 18 CT-RATE findings (a CT-RATE task is 1 if any of its sources is 1, 0 if all
present sources are 0, -1 if none of its sources is a column of the table)::

    CT-RATE finding                     RAD-ChestCT abnormality label(s)
    Medical material                    catheter_or_port, chest_tube, clip, hardware, heart_valve_replacement,
                                        pacemaker_or_defib, staple, stent, sternotomy, suture, tracheal_tube
    Arterial wall calcification         calcification*aorta, aortic_calcification
    Cardiomegaly                        cardiomegaly
    Pericardial effusion                pericardial_effusion
    Coronary artery wall calcification  coronary_artery_disease, calcification*coronary_artery
    Hiatal hernia                       hernia*hiatal, hiatal_hernia
    Lymphadenopathy                     lymphadenopathy
    Emphysema                           emphysema
    Atelectasis                         atelectasis
    Lung nodule                         nodule
    Lung opacity                        opacity, groundglass
    Pulmonary fibrotic sequela          fibrosis, scarring
    Pleural effusion                    pleural_effusion
    Mosaic attenuation pattern          mosaic_attenuation
    Peribronchial thickening            bronchial_wall_thickening
    Consolidation                       consolidation
    Bronchiectasis                      bronchiectasis
    Interlobular septal thickening      septal_thickening

Abnormalities without a counterpart (mass, pneumothorax, tree_in_bud, ...) are not used. The
7 opportunistic (echo) tasks are -1. RAD-ChestCT gives no patient id: each volume is taken as
its own patient (logged). Pass ``mapping`` to adjust the table for another label vocabulary.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from hyperct.data.adapters.common import relative_to, with_missing_labels
from hyperct.data.manifest import write_manifest
from hyperct.data.merge import merge_labels
from hyperct.tasks import LABEL_ABSENT, LABEL_MISSING, LABEL_PRESENT

logger = logging.getLogger(__name__)

RADCHEST_TO_CTRATE: dict[str, tuple[str, ...]] = {
    "Medical material": (
        "catheter_or_port",
        "chest_tube",
        "clip",
        "hardware",
        "heart_valve_replacement",
        "pacemaker_or_defib",
        "staple",
        "stent",
        "sternotomy",
        "suture",
        "tracheal_tube",
    ),
    "Arterial wall calcification": ("calcification*aorta", "aortic_calcification"),
    "Cardiomegaly": ("cardiomegaly",),
    "Pericardial effusion": ("pericardial_effusion",),
    "Coronary artery wall calcification": (
        "coronary_artery_disease",
        "calcification*coronary_artery",
    ),
    "Hiatal hernia": ("hernia*hiatal", "hiatal_hernia"),
    "Lymphadenopathy": ("lymphadenopathy",),
    "Emphysema": ("emphysema",),
    "Atelectasis": ("atelectasis",),
    "Lung nodule": ("nodule",),
    "Lung opacity": ("opacity", "groundglass"),
    "Pulmonary fibrotic sequela": ("fibrosis", "scarring"),
    "Pleural effusion": ("pleural_effusion",),
    "Mosaic attenuation pattern": ("mosaic_attenuation",),
    "Peribronchial thickening": ("bronchial_wall_thickening",),
    "Consolidation": ("consolidation",),
    "Bronchiectasis": ("bronchiectasis",),
    "Interlobular septal thickening": ("septal_thickening",),
}
SPLIT_PREFIXES = {"trn": "train", "val": "val", "tst": "test"}
_NAME = re.compile(r"^(?P<prefix>trn|val|tst)\d+$")


def adapt_radchestct(
    root: str | Path,
    labels_csv: str | Path,
    out: str | Path,
    cohort: str = "radchestct",
    id_column: str | None = None,
    mapping: dict[str, tuple[str, ...]] | None = None,
) -> pd.DataFrame:
    """Write a manifest for a folder of RAD-ChestCT .npz volumes and its label CSV."""
    root, out = Path(root), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    volumes = sorted(root.rglob("*.npz"))
    if not volumes:
        raise FileNotFoundError(f"{root}: no RAD-ChestCT volumes (*.npz)")
    df = with_missing_labels(_volume_table(volumes, out.parent, cohort))
    labels = pd.read_csv(labels_csv)
    id_column = id_column or str(labels.columns[0])
    if id_column not in labels.columns:
        raise ValueError(
            f"{labels_csv}: no id column {id_column!r}; columns {list(labels.columns)[:8]}"
        )
    mapped = map_labels(labels, id_column, mapping or RADCHEST_TO_CTRATE, source=str(labels_csv))
    df = merge_labels(df, mapped, id_column="scan_id")
    logger.info("RAD-ChestCT: no patient ids in the release; each volume is its own patient")
    logger.warning(
        "RAD-ChestCT volumes are read as (S, P, L) HU arrays at 0.8 mm: check this holds for your copy"
    )
    write_manifest(df, out)
    return df


def _volume_table(volumes: list[Path], manifest_dir: Path, cohort: str) -> pd.DataFrame:
    rows = []
    for path in volumes:
        match = _NAME.match(path.stem)
        if match is None:
            raise ValueError(f"{path}: RAD-ChestCT volume names are trn#####/val#####/tst#####.npz")
        rows.append(
            {
                "scan_id": path.stem,
                "patient_id": path.stem,
                "cohort": cohort,
                "split": SPLIT_PREFIXES[match["prefix"]],
            }
        )
    df = pd.DataFrame(rows)
    df["path"] = relative_to(volumes, manifest_dir)
    return df


def map_labels(
    labels: pd.DataFrame,
    id_column: str,
    mapping: dict[str, tuple[str, ...]],
    source: str = "labels",
) -> pd.DataFrame:
    """RAD-ChestCT abnormality columns -> CT-RATE task columns in {1, 0, -1}, keyed by scan_id."""
    values = labels.drop(columns=[id_column])
    bad = ~values.isin([0, 1])  # blanks too: never silently 0
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise ValueError(
            f"{source}: row {row + 1}, column {values.columns[col]!r}: value {values.iat[row, col]!r} is not 0 or 1"
        )
    out = pd.DataFrame(
        {"scan_id": labels[id_column].astype(str).map(lambda s: Path(s).stem.removesuffix(".npz"))}
    )
    for task, sources in mapping.items():
        columns = [c for c in values.columns if any(_matches(c, s) for s in sources)]
        if not columns:
            out[task] = LABEL_MISSING
            continue
        present = values[columns].to_numpy().max(axis=1) > 0
        out[task] = np.where(present, LABEL_PRESENT, LABEL_ABSENT)
    return out


def _matches(column: str, source: str) -> bool:
    if "*" in source:
        return column == source
    return column == source or column.split("*", 1)[0] == source
