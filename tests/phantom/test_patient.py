import numpy as np

from hyperct.phantom.patient import sample_findings, sample_infection, sample_patient
from hyperct.phantom.prevalence import CTRATE_PREVALENCE


def _cohort(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    pats = [sample_patient(rng, f"p{i}") for i in range(n)]
    return pats, [sample_findings(p, sample_infection(rng), rng, "internal") for p in pats]


def test_prevalences_match_ctrate_targets():
    _, found = _cohort(3000)
    for name, target in CTRATE_PREVALENCE.items():
        rate = np.mean([name in f for f in found])
        assert abs(rate - target) < 0.04, (name, rate, target)


def test_heart_failure_drives_cardiomegaly_and_effusions():
    pats, found = _cohort(3000, seed=1)
    hf = np.array([p.heart_failure > 0 for p in pats])
    for name in ("Cardiomegaly", "Pleural effusion", "Interlobular septal thickening"):
        has = np.array([name in f for f in found])
        assert has[hf].mean() > 2 * has[~hf].mean(), name


def test_smoking_drives_emphysema_and_consolidation_implies_opacity():
    pats, found = _cohort(3000, seed=2)
    smoker = np.array([p.pack_years > 0 for p in pats])
    emph = np.array(["Emphysema" in f for f in found])
    assert emph[smoker].mean() > 2 * emph[~smoker].mean()
    assert all("Lung opacity" in f for f in found if "Consolidation" in f)


def test_severity_in_unit_interval_and_deterministic():
    _, a = _cohort(200, seed=3)
    _, b = _cohort(200, seed=3)
    assert a == b
    assert all(0 < s <= 1 for f in a for s in f.values())
