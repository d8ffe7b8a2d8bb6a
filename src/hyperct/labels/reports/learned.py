"""Learned labeler: TF-IDF word n-grams + one logistic regression per finding.

For sites that label a few hundred reports themselves. It predicts 1 or 0 only: trained on
binary labels, it cannot tell "absent" from "not mentioned". Models are saved with joblib, which
unpickles code: load only model files you made or trust.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hyperct.labels.reports.outcome import FINDINGS, ReportOutcome

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LearnedConfig:
    """Training options: columns, TF-IDF vocabulary and regularisation (C), seed.

    Defaults chosen by 4-fold cross-validation on 500 CT-RATE reports (unigrams, C = 10: macro
    F1 0.75; bigrams 0.70, trigrams 0.65 — longer n-grams overfit at this size).
    """

    id_column: str = "AccessionNo"
    text_column: str = "report_text"
    ngram_max: int = 1
    min_df: int = 2
    max_features: int = 50000
    c: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ngram_max < 1 or self.min_df < 1 or self.max_features < 1 or self.c <= 0:
            raise ValueError("ngram_max, min_df, max_features must be >= 1 and c > 0")


class LearnedLabeler:
    """A fitted vectoriser and one classifier (or a constant) per finding."""

    def __init__(
        self, vectorizer: object, models: dict[str, object], config: LearnedConfig
    ) -> None:
        self.vectorizer = vectorizer
        self.models = models
        self.config = config

    def predict_proba(self, texts: list[str]) -> pd.DataFrame:
        """Probability of each finding being present, one row per text."""
        features = self.vectorizer.transform(texts)
        columns = {}
        for task in FINDINGS:
            model = self.models[task]
            columns[task] = (
                np.full(len(texts), float(model))
                if isinstance(model, (int, float))
                else model.predict_proba(features)[:, 1]
            )
        return pd.DataFrame(columns)

    def label_texts(self, texts: list[str]) -> list[ReportOutcome]:
        """1/0 labels at probability 0.5, with the probability as evidence."""
        probs = self.predict_proba(texts)
        outcomes = []
        for _, row in probs.iterrows():
            labels = {t: int(row[t] >= 0.5) for t in FINDINGS}
            evidence = [
                {
                    "task": t,
                    "label": labels[t],
                    "status": "",
                    "sentence": "",
                    "phrase": "",
                    "cue": f"p={row[t]:.3f}",
                    "method": "learned",
                }
                for t in FINDINGS
            ]
            outcomes.append(ReportOutcome(labels=labels, evidence=evidence))
        return outcomes

    def save(self, path: str | Path) -> Path:
        """Write the model atomically with joblib."""
        import os
        import tempfile

        import joblib

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        joblib.dump(
            {"vectorizer": self.vectorizer, "models": self.models, "config": self.config}, tmp
        )
        os.replace(tmp, path)
        return path


def train_learned(
    texts: list[str], labels: pd.DataFrame, config: LearnedConfig | None = None
) -> LearnedLabeler:
    """Fit the labeler; ``labels`` has the 18 finding columns (1 present, 0 or -1 otherwise)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    config = config or LearnedConfig()
    missing = [t for t in FINDINGS if t not in labels.columns]
    if missing:
        raise ValueError(f"training labels lack finding column(s) {missing}")
    vectorizer = TfidfVectorizer(
        ngram_range=(1, config.ngram_max),
        min_df=config.min_df,
        max_features=config.max_features,
        sublinear_tf=True,
    )
    features = vectorizer.fit_transform(texts)
    models: dict[str, object] = {}
    for task in FINDINGS:
        y = (pd.to_numeric(labels[task], errors="coerce").to_numpy() == 1).astype(int)
        if y.min() == y.max():
            models[task] = float(y[0])
            logger.warning(
                "finding %r has one class in the training labels; predicting %d", task, y[0]
            )
            continue
        model = LogisticRegression(
            C=config.c, class_weight="balanced", max_iter=2000, random_state=config.seed
        )
        models[task] = model.fit(features, y)
    return LearnedLabeler(vectorizer, models, config)


def load_learned(path: str | Path) -> LearnedLabeler:
    """Load a model saved by :meth:`LearnedLabeler.save` (trusted files only)."""
    import joblib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: learned model not found")
    data = joblib.load(path)
    return LearnedLabeler(data["vectorizer"], data["models"], data["config"])


def train_learned_file(
    reports_path: str | Path, out_path: str | Path, config: LearnedConfig | None = None
) -> LearnedLabeler:
    """Train from a labelled reports CSV and save the model."""
    from hyperct.labels.reports.table import ReportColumns, read_reports, text_problem

    config = config or LearnedConfig()
    df = read_reports(reports_path, ReportColumns(config.id_column, config.text_column))
    usable = df[[not text_problem(t) for t in df[config.text_column]]]
    if len(usable) < 10:
        raise ValueError(f"{reports_path}: {len(usable)} usable labelled reports; need at least 10")
    labeler = train_learned(usable[config.text_column].tolist(), usable, config)
    labeler.save(out_path)
    return labeler
