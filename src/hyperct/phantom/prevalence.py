"""Target prevalences of the 25 tasks in a synthetic cohort.

Conventional tasks: the fraction of positive labels in the 800 CT-RATE reports of
``../shared/data/reports/ctrate_reports_train.csv`` (columns = CT-RATE expert labels), computed
once with pandas (``df[task].mean()``) and rounded to 3 decimals. Opportunistic tasks: plausible
rates in a hospital cohort referred for both chest CT and echocardiography (no public source;
they are the design targets of :mod:`hyperct.phantom.cardiac`).
"""

from __future__ import annotations

CTRATE_PREVALENCE: dict[str, float] = {
    "Medical material": 0.150,
    "Arterial wall calcification": 0.276,
    "Cardiomegaly": 0.112,
    "Pericardial effusion": 0.080,
    "Coronary artery wall calcification": 0.222,
    "Hiatal hernia": 0.160,
    "Lymphadenopathy": 0.340,
    "Emphysema": 0.230,
    "Atelectasis": 0.280,
    "Lung nodule": 0.462,
    "Lung opacity": 0.300,
    "Pulmonary fibrotic sequela": 0.266,
    "Pleural effusion": 0.146,
    "Mosaic attenuation pattern": 0.084,
    "Peribronchial thickening": 0.089,
    "Consolidation": 0.156,
    "Bronchiectasis": 0.096,
    "Interlobular septal thickening": 0.084,
}

#: External cohort: a different hospital, older and sicker (multipliers on the internal rates).
EXTERNAL_MULTIPLIER: dict[str, float] = {
    "Medical material": 1.4,
    "Arterial wall calcification": 1.2,
    "Cardiomegaly": 1.4,
    "Pericardial effusion": 1.2,
    "Coronary artery wall calcification": 1.3,
    "Hiatal hernia": 0.8,
    "Lymphadenopathy": 0.7,
    "Emphysema": 1.3,
    "Atelectasis": 1.1,
    "Lung nodule": 0.8,
    "Lung opacity": 0.9,
    "Pulmonary fibrotic sequela": 0.8,
    "Pleural effusion": 1.3,
    "Mosaic attenuation pattern": 0.7,
    "Peribronchial thickening": 1.3,
    "Consolidation": 0.8,
    "Bronchiectasis": 1.2,
    "Interlobular septal thickening": 1.3,
}


def target_prevalence(cohort: str) -> dict[str, float]:
    """Conventional-task prevalences for ``cohort`` (internal, external or prospective)."""
    if cohort == "external":
        return {k: min(0.9, v * EXTERNAL_MULTIPLIER[k]) for k, v in CTRATE_PREVALENCE.items()}
    return dict(CTRATE_PREVALENCE)
