"""Where predictions come from: a RUN folder (predictions + optional checkpoint) or a table file.

Every source becomes rows of one predictions table with a ``model`` column, the label shown in
the report: the method name, or ``method/run`` when one method appears with several runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hyperct.inference.predictions import METHOD, RUN, read_predictions

PREDICTION_FILES: tuple[str, ...] = ("predictions.csv", "predictions.parquet")
CHECKPOINT_FILES: tuple[str, ...] = ("best.pt", "last.pt")


@dataclass(frozen=True)
class Source:
    """One evaluated input; ``run_dir`` is set when it is a RUN folder."""

    predictions_path: Path
    run_dir: Path | None

    @property
    def checkpoint(self) -> Path | None:
        """The run's checkpoint (best before last), if any."""
        if self.run_dir is None:
            return None
        found = [
            self.run_dir / name for name in CHECKPOINT_FILES if (self.run_dir / name).is_file()
        ]
        return found[0] if found else None


def resolve_source(path: str | Path) -> Source:
    """A RUN folder (with predictions.csv or .parquet) or a predictions file."""
    path = Path(path)
    if path.is_dir():
        for name in PREDICTION_FILES:
            if (path / name).is_file():
                return Source(predictions_path=path / name, run_dir=path)
        raise FileNotFoundError(
            f"{path}: a RUN folder needs one of {', '.join(PREDICTION_FILES)}; none found "
            "(run `hyperct predict` first, or pass the predictions file itself)"
        )
    if path.is_file():
        return Source(predictions_path=path, run_dir=None)
    raise FileNotFoundError(f"{path}: no such RUN folder or predictions file")


def load_sources(paths: list[str | Path]) -> tuple[pd.DataFrame, list[Source]]:
    """Read all sources into one table with a ``model`` column, in the order given.

    A file without ``method``/``run`` columns is named after its RUN folder (or its file stem).
    Two sources giving the same (method, run) are an error: the report could not tell them apart.
    """
    if not paths:
        raise ValueError("nothing to evaluate: give at least one RUN folder or predictions file")
    sources = [resolve_source(p) for p in paths]
    frames, seen = [], {}
    for source in sources:
        name = source.run_dir.name if source.run_dir is not None else source.predictions_path.stem
        df = read_predictions(source.predictions_path, method=name, run=name)
        for pair in df[[METHOD, RUN]].drop_duplicates().itertuples(index=False):
            if tuple(pair) in seen:
                raise ValueError(
                    f"method {pair[0]!r}, run {pair[1]!r} appears in both "
                    f"{seen[tuple(pair)]} and {source.predictions_path}; rename one run"
                )
            seen[tuple(pair)] = source.predictions_path
        frames.append(df)
    table = pd.concat(frames, ignore_index=True)
    return table.assign(model=model_labels(table)), sources


def model_labels(df: pd.DataFrame) -> pd.Series:
    """``method``, or ``method/run`` for methods that appear with more than one run."""
    runs_per_method = df.groupby(METHOD)[RUN].nunique()
    several = df[METHOD].map(runs_per_method) > 1
    return df[METHOD].where(~several, df[METHOD] + "/" + df[RUN])


def model_order(df: pd.DataFrame) -> list[str]:
    """Model labels in the order of the sources (first = reference)."""
    return list(dict.fromkeys(df["model"]))
