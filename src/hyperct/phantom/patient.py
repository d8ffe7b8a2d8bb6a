"""Latent patient state and the conventional findings it drives together (comorbidity).

A patient has demographics and a few latent conditions (smoking, heart failure, fibrosis, airway
disease, malignancy, atherosclerosis, past cardiac surgery); each scan adds an acute infection
state. Each of the 18 conventional findings is then drawn from a logistic model of these
features, so related findings co-occur (heart failure -> cardiomegaly, effusions, septal
thickening; smoking -> emphysema, nodules, bronchial wall thickening; age -> calcification).
The intercepts are calibrated by Monte Carlo so the marginal prevalences match a target.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hyperct.phantom.prevalence import target_prevalence
from hyperct.tasks import CONVENTIONAL

logger = logging.getLogger(__name__)

FEATURES = (
    "age",
    "male",
    "smoking",
    "obesity",
    "heart_failure",
    "infection",
    "fibrosis",
    "airway",
    "malignancy",
    "athero",
    "surgery",
)

#: Logit weights of each finding on the latent features (names as in FEATURES).
WEIGHTS: dict[str, dict[str, float]] = {
    "Medical material": {"surgery": 3.5, "heart_failure": 1.0, "malignancy": 1.2, "age": 0.3},
    "Arterial wall calcification": {"age": 1.8, "smoking": 0.5, "athero": 1.2},
    "Cardiomegaly": {"heart_failure": 3.0, "age": 0.4, "obesity": 0.3},
    "Pericardial effusion": {"heart_failure": 1.6, "infection": 0.6, "malignancy": 0.9},
    "Coronary artery wall calcification": {"athero": 1.6, "age": 1.3, "male": 0.7, "smoking": 0.3},
    "Hiatal hernia": {"age": 1.0, "obesity": 0.8, "male": -0.3},
    "Lymphadenopathy": {"infection": 1.2, "malignancy": 2.0, "fibrosis": 0.8, "heart_failure": 0.5},
    "Emphysema": {"smoking": 2.2, "age": 0.5, "male": 0.3},
    "Atelectasis": {"infection": 1.2, "heart_failure": 0.9, "obesity": 0.4, "age": 0.3},
    "Lung nodule": {"smoking": 0.6, "malignancy": 2.2, "age": 0.4},
    "Lung opacity": {"infection": 2.2, "fibrosis": 1.0, "heart_failure": 0.8},
    "Pulmonary fibrotic sequela": {"fibrosis": 2.6, "age": 0.6, "smoking": 0.3, "infection": 0.3},
    "Pleural effusion": {"heart_failure": 2.0, "infection": 0.9, "malignancy": 1.1},
    "Mosaic attenuation pattern": {"airway": 2.4, "fibrosis": 0.8},
    "Peribronchial thickening": {"airway": 2.0, "smoking": 0.8, "infection": 0.7},
    "Consolidation": {"infection": 2.8, "malignancy": 0.4},
    "Bronchiectasis": {"airway": 2.0, "fibrosis": 1.3, "age": 0.3},
    "Interlobular septal thickening": {"heart_failure": 2.4, "fibrosis": 1.0, "malignancy": 0.4},
}

#: A finding that implies another one in the labels (CT-RATE: "Lung opacity" covers consolidation).
IMPLIES = {"Consolidation": "Lung opacity"}


@dataclass(frozen=True)
class PatientState:
    """Latent state of one patient (at the first CT): demographics and chronic conditions."""

    patient_id: str
    sex: str
    age: float
    pack_years: float
    bmi: float
    heart_failure: float
    hf_reduced_ef: bool
    fibrosis: bool
    airway: bool
    malignancy: bool
    athero: float
    surgery: bool

    def __post_init__(self) -> None:
        if self.sex not in ("F", "M"):
            raise ValueError(f"patient {self.patient_id}: sex must be 'F' or 'M', got {self.sex!r}")
        if not 0.0 <= self.heart_failure <= 1.0:
            raise ValueError(f"patient {self.patient_id}: heart_failure must be in [0, 1]")

    def features(self, infection: float) -> np.ndarray:
        """The latent features in FEATURES order, roughly standardised."""
        return np.array(
            [
                (self.age - 60.0) / 14.0,
                float(self.sex == "M"),
                np.log1p(self.pack_years) / 2.0,
                (self.bmi - 27.0) / 5.0,
                float(self.heart_failure > 0) + self.heart_failure,
                infection,
                float(self.fibrosis),
                float(self.airway),
                float(self.malignancy),
                self.athero,
                float(self.surgery),
            ]
        )


def sample_patient(
    rng: np.random.Generator, patient_id: str, age_shift: float = 0.0
) -> PatientState:
    """Draw one patient's latent state; ``age_shift`` (years) makes a cohort older."""
    sex = "M" if rng.random() < 0.55 else "F"
    age = float(np.clip(rng.normal(60 + age_shift, 14), 22, 92))
    age_z = (age - 60) / 14
    pack_years = float(rng.lognormal(3.0, 0.6)) if rng.random() < 0.45 else 0.0
    bmi = float(np.clip(rng.normal(27.5, 5.0), 16, 48))
    hf = rng.random() < _sigmoid(-1.9 + 0.9 * age_z + 0.3 * (sex == "M") + 0.04 * (bmi - 27))
    athero = float(
        0.8 * age_z + 0.4 * np.log1p(pack_years) / 2 + 0.3 * (sex == "M") + rng.normal(0, 0.7)
    )
    return PatientState(
        patient_id=patient_id,
        sex=sex,
        age=age,
        pack_years=pack_years,
        bmi=bmi,
        heart_failure=float(rng.uniform(0.2, 1.0)) if hf else 0.0,
        hf_reduced_ef=bool(hf and rng.random() < 0.5),
        fibrosis=bool(rng.random() < _sigmoid(-2.8 + 0.8 * age_z + 0.2 * np.log1p(pack_years))),
        airway=bool(rng.random() < 0.10),
        malignancy=bool(rng.random() < _sigmoid(-2.3 + 0.5 * age_z + 0.35 * np.log1p(pack_years))),
        athero=athero,
        surgery=bool(rng.random() < _sigmoid(-2.8 + 0.9 * athero + 1.0 * hf)),
    )


def sample_infection(rng: np.random.Generator) -> float:
    """Acute infection at the time of one scan (0 or 1)."""
    return float(rng.random() < 0.22)


def sample_findings(
    state: PatientState, infection: float, rng: np.random.Generator, cohort: str
) -> dict[str, float]:
    """The conventional findings present on one scan, each with a severity in (0, 1]."""
    intercepts = calibrated_intercepts(cohort)
    x = state.features(infection)
    present: dict[str, float] = {}
    for task in CONVENTIONAL:
        logit = intercepts[task.name] + _weight_vector(task.name) @ x
        if rng.random() < _sigmoid(logit):
            boost = 0.25 * _sigmoid(logit - intercepts[task.name] - 1.0)
            present[task.name] = float(np.clip(rng.beta(1.3, 1.5) + boost, 0.02, 1.0))
    for cause, implied in IMPLIES.items():
        if cause in present and implied not in present:
            present[implied] = present[cause]
    return present


@lru_cache(maxsize=8)
def calibrated_intercepts(cohort: str, n: int = 20000) -> dict[str, float]:
    """Intercepts such that the cohort's marginal prevalences match :func:`target_prevalence`.

    Monte Carlo over ``n`` latent patients with common random numbers (fixed seed), then
    bisection per task; implications (:data:`IMPLIES`) are accounted for.
    """
    rng = np.random.default_rng(12345)
    shift = 6.0 if cohort == "external" else 0.0
    x = np.stack(
        [sample_patient(rng, "mc", shift).features(sample_infection(rng)) for _ in range(n)]
    )
    u = rng.random((n, len(CONVENTIONAL)))
    targets = target_prevalence(cohort)
    out: dict[str, float] = {}
    order = [t for t in CONVENTIONAL if t.name not in IMPLIES.values()]
    order += [t for t in CONVENTIONAL if t.name in IMPLIES.values()]
    drawn: dict[str, np.ndarray] = {}
    for task in order:
        lin = x @ _weight_vector(task.name)
        causes = [drawn[c] for c, imp in IMPLIES.items() if imp == task.name and c in drawn]
        forced = np.any(causes, axis=0) if causes else np.zeros(n, bool)
        lo, hi = -12.0, 8.0
        for _ in range(40):
            mid = (lo + hi) / 2
            prev = np.mean((u[:, task.id] < _sigmoid(mid + lin)) | forced)
            lo, hi = (mid, hi) if prev < targets[task.name] else (lo, mid)
        out[task.name] = (lo + hi) / 2
        drawn[task.name] = u[:, task.id] < _sigmoid(out[task.name] + lin)
    return out


def _weight_vector(task_name: str) -> np.ndarray:
    w = WEIGHTS[task_name]
    unknown = set(w) - set(FEATURES)
    if unknown:
        raise KeyError(f"WEIGHTS[{task_name!r}] names unknown features {sorted(unknown)}")
    return np.array([w.get(f, 0.0) for f in FEATURES])


def _sigmoid(x: float | np.ndarray) -> float | np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
