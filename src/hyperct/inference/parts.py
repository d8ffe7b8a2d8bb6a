"""One predictions table from the parts of a sharded or multi-process prediction.

Each part is a predictions file (``hyperct predict --manifest --shard i/n --out part``). The
merge refuses a (method, run, scan, task) that two parts both hold, naming the scan, the task and
both files, and refuses a scan the manifest does not list; scans of the manifest that no part
holds, or holds for only some of the tasks, are the gaps it reports (the table of what there is
is still written, and the command exits 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hyperct.inference.predictions import (
    KEY,
    METHOD,
    RUN,
    SCAN_ID,
    SPLIT,
    TASK,
    PredictionsError,
    read_predictions,
    sort_predictions,
)

_PART = "_part"


@dataclass
class MergedPredictions:
    """The merged table and its gaps: scan_id -> what is missing for it."""

    table: pd.DataFrame
    gaps: dict[str, str] = field(default_factory=dict)


def merge_parts(
    parts: Sequence[str | Path],
    manifest: str | Path | None = None,
    splits: Sequence[str] | None = None,
) -> MergedPredictions:
    """Join prediction ``parts`` into one table; with ``manifest``, find the scans missing.

    ``splits`` restricts the scans expected from the manifest, as ``predict --split`` did.
    """
    if not parts:
        raise PredictionsError("no prediction parts to merge")
    seen: set[Path] = set()
    for part in parts:
        if Path(part).resolve() in seen:
            raise PredictionsError(f"{part}: given twice")
        seen.add(Path(part).resolve())
    frames = [read_predictions(p).assign(**{_PART: str(p)}) for p in parts]
    joined = pd.concat(frames, ignore_index=True)
    _refuse_duplicates(joined)
    table = sort_predictions(joined.drop(columns=_PART))
    gaps = _incomplete_scans(table)
    if manifest is not None:
        expected = _expected_scans(manifest, splits)
        _refuse_unknown(joined, expected, manifest)
        present = set(table[SCAN_ID])
        gaps.update({sid: "no part holds it" for sid in expected if sid not in present})
    return MergedPredictions(table, dict(sorted(gaps.items())))


def _refuse_duplicates(joined: pd.DataFrame) -> None:
    repeated = joined[joined.duplicated(list(KEY), keep=False)]
    if repeated.empty:
        return
    first = repeated.iloc[0]
    same = repeated[(repeated[list(KEY)] == first[list(KEY)]).all(axis=1)]
    files = " and ".join(dict.fromkeys(same[_PART]))
    count = int(joined.duplicated(list(KEY)).sum())
    raise PredictionsError(
        f"scan {first[SCAN_ID]!r}, task {first[TASK]!r} (method {first[METHOD]!r}, run "
        f"{first[RUN]!r}) is in more than one part: {files}; {count} repeated row(s) in all "
        "(overlapping shards, or parts of two predictions of one run?)"
    )


def _incomplete_scans(table: pd.DataFrame) -> dict[str, str]:
    """Scans holding fewer tasks than their (method, run) predicts for other scans."""
    gaps: dict[str, str] = {}
    for _, group in table.groupby([METHOD, RUN], sort=False):
        tasks = list(dict.fromkeys(group[TASK]))
        per_scan = group.groupby(SCAN_ID, sort=False)[TASK].agg(set)
        for sid, held in per_scan.items():
            missing = [t for t in tasks if t not in held]
            if missing:
                gaps[str(sid)] = f"{len(missing)} task(s) missing, e.g. {missing[0]!r}"
    return gaps


def _expected_scans(manifest: str | Path, splits: Sequence[str] | None) -> list[str]:
    from hyperct.data.manifest import load_manifest

    df = load_manifest(manifest, check_files=False, check_leakage=False)
    if splits:
        df = df[df[SPLIT].isin(list(splits))]
    return [str(s) for s in df[SCAN_ID]]


def _refuse_unknown(joined: pd.DataFrame, expected: list[str], manifest: str | Path) -> None:
    unknown = joined[~joined[SCAN_ID].isin(set(expected))]
    if not unknown.empty:
        row = unknown.iloc[0]
        raise PredictionsError(
            f"{row[_PART]}: scan {row[SCAN_ID]!r} is not among the scans of {manifest} "
            "that were to be predicted (another manifest, or other --split?)"
        )
