"""Draw one synthetic chest CT: anatomy, findings, masks, scanner; deterministic for its seed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from hyperct.io.volume import Volume
from hyperct.phantom import anatomy, findings_chest as fc, findings_lung as fl
from hyperct.phantom.airways import AirwayDisease, draw_airways_and_vessels
from hyperct.phantom.anatomy import LOBES
from hyperct.phantom.body import sample_body
from hyperct.phantom.canvas import Canvas
from hyperct.phantom.cardiac import CardiacState
from hyperct.phantom.grid import Grid
from hyperct.phantom.heart import draw_heart, draw_vessels_and_oesophagus, plan_mediastinum
from hyperct.phantom.patient import PatientState
from hyperct.phantom.scanner import SCANNERS, acquire
from hyperct.phantom.scene import Scene
from hyperct.tasks import task_by_name

Painter = Callable[[Scene, int, float], None]

#: Lung and pleural painters in drawing order (effusion first: it removes lung it covers).
LUNG_PAINTERS: tuple[tuple[str, Painter], ...] = (
    ("Pleural effusion", fl.paint_pleural_effusion),
    ("Emphysema", fl.paint_emphysema),
    ("Mosaic attenuation pattern", fl.paint_mosaic),
    ("Lung opacity", fl.paint_ground_glass),
    ("Atelectasis", fl.paint_atelectasis),
    ("Pulmonary fibrotic sequela", fl.paint_fibrosis),
    ("Interlobular septal thickening", fl.paint_septal),
    ("Lung nodule", fl.paint_nodules),
)
CHEST_PAINTERS: tuple[tuple[str, Painter], ...] = (
    ("Arterial wall calcification", fc.paint_aortic_calcification),
    ("Coronary artery wall calcification", fc.paint_coronary_calcification),
    ("Medical material", fc.paint_medical_material),
)


@dataclass(frozen=True)
class ScanSpec:
    """Everything needed to draw one scan; ``findings`` maps present task names to severity."""

    scan_id: str
    patient: PatientState
    cardiac: CardiacState
    findings: dict[str, float]
    grid: Grid
    scanner: str
    seed: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.scanner not in SCANNERS:
            raise ValueError(
                f"scan {self.scan_id}: unknown scanner {self.scanner!r}; known {sorted(SCANNERS)}"
            )
        for name, sev in self.findings.items():
            task_by_name(name)
            if not 0 < sev <= 1:
                raise ValueError(
                    f"scan {self.scan_id}: severity of {name!r} must be in (0, 1], got {sev}"
                )


@dataclass
class RenderedScan:
    """The CT (int16 HU Volume), its anatomy label map, findings bitmask and drawing details."""

    volume: Volume
    anatomy: np.ndarray
    findings_mask: np.ndarray
    details: dict[str, dict] = field(default_factory=dict)


def _tid(name: str) -> int:
    return task_by_name(name).id


# BLAS here multiplies only small matrices, where extra threads spin rather than help; one
# thread also keeps a pool of one-scan-per-process workers from oversubscribing the cores.
@threadpool_limits.wrap(limits=1, user_api="blas")
def render_scan(spec: ScanSpec) -> RenderedScan:
    """Draw the scan described by ``spec``."""
    rng = np.random.default_rng(list(spec.seed))
    f = spec.findings
    c = Canvas(spec.grid)
    body = sample_body(spec.patient, spec.grid, rng)
    anatomy.draw_body_wall(c, body)
    anatomy.draw_paraspinal_muscles(c, body)
    anatomy.draw_cavity_and_lungs(c, body, rng)
    anatomy.draw_spine(c, body)
    anatomy.draw_ribs_and_sternum(c, body)
    anatomy.draw_shoulder_girdle(c, body)
    cardio = f.get("Cardiomegaly")
    heart_scale = 1.1 + 0.22 * cardio if cardio else float(rng.normal(1.0, 0.07))
    med = plan_mediastinum(body, spec.cardiac, heart_scale, spec.patient.age, rng)
    sc = Scene(c, body, med, rng)
    peri = f.get("Pericardial effusion")
    peri_mm = 3 + 13 * peri if peri else 0.0
    draw_heart(
        c,
        med,
        fat=float(np.clip(2 + 0.25 * (spec.patient.bmi - 22), 1.5, 7)),
        effusion=peri_mm,
        task_effusion=_tid("Pericardial effusion"),
        task_cardiomegaly=_tid("Cardiomegaly") if cardio else None,
    )
    if cardio:
        sc.details["Cardiomegaly"] = {"scale": round(heart_scale, 2)}
    if peri:
        sc.details["Pericardial effusion"] = {"thickness_mm": round(peri_mm)}
    draw_vessels_and_oesophagus(c, body, med, spec.cardiac)
    if "Hiatal hernia" in f:
        fc.paint_hiatal_hernia(sc, _tid("Hiatal hernia"), f["Hiatal hernia"])
    draw_airways_and_vessels(
        c, body, med, _airway_disease(f, rng), rng, max_depth=5 if spec.grid.spacing[1] < 2 else 4
    )
    fc.paint_normal_nodes(sc)
    if "Lymphadenopathy" in f:
        fc.paint_lymphadenopathy(sc, _tid("Lymphadenopathy"), f["Lymphadenopathy"])
    _paint_lung(sc, f)
    for name, painter in CHEST_PAINTERS:
        if name in f:
            painter(sc, _tid(name), f[name])
    body_box = spec.grid.box(
        np.array([-1e4, body.y0 - body.b_body - 6, body.x0 - body.a_body - 6]),
        np.array([1e4, body.y0 + body.b_body + 22, body.x0 + body.a_body + 6]),
    )
    ct = acquire(c.hu, spec.grid, SCANNERS[spec.scanner], rng, body_box)
    volume = Volume(
        array=ct, spacing=spec.grid.spacing, affine=spec.grid.affine(), source=spec.scan_id
    )
    return RenderedScan(volume, c.labels, c.findings, sc.details)


def _paint_lung(sc: Scene, f: dict[str, float]) -> None:
    """Lung painters in order; consolidation (which also counts as lung opacity) comes right
    after the ground glass, which it often replaces."""
    for name, painter in LUNG_PAINTERS:
        if name == "Lung opacity":
            only_consolidation = "Consolidation" in f and sc.rng.random() < 0.6
            if name in f and not only_consolidation:
                painter(sc, _tid(name), f[name])
            if "Consolidation" in f:
                fl.paint_consolidation(sc, _tid("Consolidation"), f["Consolidation"], _tid(name))
        elif name in f:
            painter(sc, _tid(name), f[name])


def _airway_disease(f: dict[str, float], rng: np.random.Generator) -> AirwayDisease:
    d = AirwayDisease()
    if "Peribronchial thickening" in f:
        d.wall_factor = 1.8 + 3.2 * f["Peribronchial thickening"]
        d.cuff_mm = 1.5 + 4.0 * f["Peribronchial thickening"]
        d.task_wall = _tid("Peribronchial thickening")
    if "Bronchiectasis" in f:
        lower = [LOBES["right lower lobe"], LOBES["left lower lobe"]]
        others = [LOBES["right middle lobe"], LOBES["left upper lobe"], LOBES["right upper lobe"]]
        extra = list(rng.choice(others, size=int(rng.integers(0, 3)), replace=False))
        d.dilated_lobes = tuple(int(v) for v in lower[: int(rng.integers(1, 3))] + extra)
        d.dilation = 1.8 + 3.0 * f["Bronchiectasis"]
        d.task_dilation = _tid("Bronchiectasis")
    return d
