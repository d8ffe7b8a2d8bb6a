"""The 25 screening tasks: the single source of truth for their ids, names and order.

Everything else in hyperct (manifest columns, model outputs, CLI choices, reports) refers to this
module, so the catalogue can never drift between parts. It imports nothing heavy on purpose.

Conventional task names are spelled exactly as the CT-RATE label columns; the opportunistic
(echocardiography-defined) tasks carry the echo criterion that defines them. The thresholds
themselves are configurable in :mod:`hyperct.labels.echo`; the texts here state the defaults.

>>> from hyperct.tasks import TASKS, task_by_name
>>> len(TASKS), TASKS[0].name, task_by_name("Emphysema").id
(25, 'Medical material', 7)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Group = Literal["conventional", "opportunistic"]
GROUPS: tuple[Group, ...] = ("conventional", "opportunistic")


@dataclass(frozen=True)
class Task:
    """One screening task: a binary finding predicted from a chest CT."""

    id: int
    name: str
    short_name: str
    group: Group
    definition: str


_CONVENTIONAL: tuple[tuple[str, str, str], ...] = (
    (
        "Medical material",
        "medical_material",
        "Any man-made device or material in the chest: surgical clips, sternal wires, stents, "
        "catheters, ports, pacemaker or defibrillator leads, prostheses, tubes, embolisation coils.",
    ),
    (
        "Arterial wall calcification",
        "arterial_wall_calcification",
        "Calcification (calcified atherosclerotic plaque) in the wall of the aorta or of other "
        "large non-coronary arteries.",
    ),
    (
        "Cardiomegaly",
        "cardiomegaly",
        "Enlarged heart: increased heart size or cardiothoracic ratio, including enlargement of "
        "the cardiac chambers described as cardiomegaly.",
    ),
    (
        "Pericardial effusion",
        "pericardial_effusion",
        "Fluid in the pericardial space, of any amount (including minimal effusion or "
        "pericardial fluid with thickening).",
    ),
    (
        "Coronary artery wall calcification",
        "coronary_artery_wall_calcification",
        "Calcification or calcified plaque in the wall of the coronary arteries.",
    ),
    (
        "Hiatal hernia",
        "hiatal_hernia",
        "Herniation of part of the stomach through the oesophageal hiatus of the diaphragm.",
    ),
    (
        "Lymphadenopathy",
        "lymphadenopathy",
        "Lymph nodes of pathological size (short axis above about 1 cm) in the mediastinum, "
        "hila or axillae.",
    ),
    (
        "Emphysema",
        "emphysema",
        "Emphysema of any type (centrilobular, paraseptal, panlobular) or bullae: areas of lung "
        "destruction with abnormally low attenuation.",
    ),
    (
        "Atelectasis",
        "atelectasis",
        "Collapse or incomplete expansion of lung tissue: linear, subsegmental, passive, "
        "compressive or lobar atelectasis.",
    ),
    (
        "Lung nodule",
        "lung_nodule",
        "A focal rounded opacity in the lung up to 3 cm: solid, part-solid or ground-glass "
        "nodules and micronodules.",
    ),
    (
        "Lung opacity",
        "lung_opacity",
        "Any area of increased lung attenuation: ground-glass opacity, consolidation, "
        "infiltrate or density.",
    ),
    (
        "Pulmonary fibrotic sequela",
        "pulmonary_fibrotic_sequela",
        "Fibrotic changes in the lung: fibrotic bands, fibrotic sequelae, reticulation, "
        "parenchymal scarring.",
    ),
    (
        "Pleural effusion",
        "pleural_effusion",
        "Fluid in the pleural space, of any amount.",
    ),
    (
        "Mosaic attenuation pattern",
        "mosaic_attenuation_pattern",
        "Mosaic attenuation or perfusion: a patchwork of lung regions of differing attenuation.",
    ),
    (
        "Peribronchial thickening",
        "peribronchial_thickening",
        "Thickening of the bronchial walls or peribronchial interstitium.",
    ),
    (
        "Consolidation",
        "consolidation",
        "Airspace consolidation: lung replaced by dense opacity that obscures the vessels, "
        "often with air bronchograms.",
    ),
    (
        "Bronchiectasis",
        "bronchiectasis",
        "Irreversible dilatation of bronchi (a bronchus wider than its accompanying artery), "
        "including traction bronchiectasis.",
    ),
    (
        "Interlobular septal thickening",
        "interlobular_septal_thickening",
        "Thickening of the interlobular septa (septal lines, Kerley lines, crazy paving).",
    ),
)

_OPPORTUNISTIC: tuple[tuple[str, str, str], ...] = (
    (
        "Reduced LV systolic function",
        "reduced_lv_systolic_function",
        "Left ventricular ejection fraction (LVEF) below 50 % on the matched echocardiogram.",
    ),
    (
        "Reduced RV systolic function",
        "reduced_rv_systolic_function",
        "Qualitative right ventricular systolic function reported as anything but normal on the "
        "matched echocardiogram.",
    ),
    (
        "Pulmonary hypertension",
        "pulmonary_hypertension",
        "Pulmonary artery systolic pressure (PASP) above 35 mmHg on the matched echocardiogram.",
    ),
    (
        "Atrial chamber enlargement",
        "atrial_chamber_enlargement",
        "Left atrial volume index (LAVI) above 34 mL/m2 on the matched echocardiogram.",
    ),
    (
        "Ventricular enlargement",
        "ventricular_enlargement",
        "Left ventricular internal diameter in diastole (LVIDd) above 5.3 cm in women or "
        "5.9 cm in men on the matched echocardiogram.",
    ),
    (
        "Elevated LA filling pressure",
        "elevated_la_filling_pressure",
        "E/A ratio of 2 or more, or LAVI above 34 mL/m2, or peak tricuspid regurgitation "
        "velocity above 2.8 m/s on the matched echocardiogram.",
    ),
    (
        "Elevated RA filling pressure",
        "elevated_ra_filling_pressure",
        "Peak tricuspid regurgitation velocity above 3.4 m/s on the matched echocardiogram.",
    ),
)


def _build() -> tuple[Task, ...]:
    rows = [(*row, "conventional") for row in _CONVENTIONAL]
    rows += [(*row, "opportunistic") for row in _OPPORTUNISTIC]
    return tuple(
        Task(id=i, name=name, short_name=short, group=group, definition=definition)
        for i, (name, short, definition, group) in enumerate(rows)
    )


TASKS: tuple[Task, ...] = _build()
TASK_NAMES: tuple[str, ...] = tuple(t.name for t in TASKS)
CONVENTIONAL: tuple[Task, ...] = tuple(t for t in TASKS if t.group == "conventional")
OPPORTUNISTIC: tuple[Task, ...] = tuple(t for t in TASKS if t.group == "opportunistic")
NUM_TASKS = len(TASKS)

LABEL_PRESENT, LABEL_ABSENT, LABEL_MISSING = 1, 0, -1
#: The voxel value of an anatomy label map where no label is known (padding, unlabelled scans).
IGNORE_INDEX = 255
LABEL_VALUES = (LABEL_PRESENT, LABEL_ABSENT, LABEL_MISSING)

_BY_NAME = {t.name.lower(): t for t in TASKS}
_BY_SHORT = {t.short_name: t for t in TASKS}


def task_by_name(name: str) -> Task:
    """Look a task up by its full name (case-insensitive) or its short name."""
    task = _BY_NAME.get(name.strip().lower()) or _BY_SHORT.get(name.strip())
    if task is None:
        raise KeyError(
            f"unknown task {name!r}; known tasks: {', '.join(TASK_NAMES)} "
            "(or their short names, see `hyperct tasks`)"
        )
    return task


def tasks_in_group(group: Group) -> tuple[Task, ...]:
    """The tasks of one group, in catalogue order."""
    if group not in GROUPS:
        raise KeyError(f"unknown task group {group!r}; expected one of {GROUPS}")
    return tuple(t for t in TASKS if t.group == group)
