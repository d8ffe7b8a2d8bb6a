"""CT-RATE-style free-text reports (findings + impression) written from what was drawn.

Wording varies (several phrasings per finding, severity and location words, hedges); absent
findings are sometimes negated ("no pleural effusion"), sometimes not mentioned; a few present
findings, more often subtle ones, are left unmentioned, as radiologists do. Incidental findings
outside the 18 tasks are added. :func:`write_report` also returns what the text states per task
(1 present, 0 negated, -1 not mentioned), the reference for checking a report labeler.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hyperct.tasks import CONVENTIONAL

Rng = np.random.Generator


def _a(n: float) -> str:
    """The article before a spoken number of mm: "an 8 mm", "a 9 mm"."""
    k = int(round(n))
    return "An" if str(k).startswith("8") or k in (11, 18) else "A"


def _sev_word(sev: float, rng: Rng) -> str:
    words = [
        ("minimal", "slight"),
        ("mild", "mild"),
        ("moderate", "marked"),
        ("severe", "prominent"),
    ]
    return str(rng.choice(words[min(3, int(sev * 4))]))


def _side_words(side: str) -> str:
    return {"right": "on the right", "left": "on the left", "both": "bilaterally"}.get(side, "")


def _nodules(d: dict, sev: float, rng: Rng) -> str:
    nods = d.get("nodules") or [{"diameter_mm": 5, "kind": "solid", "lobe": "lung"}]
    big = max(nods, key=lambda n: n["diameter_mm"])
    size = big["diameter_mm"]
    if len(nods) > 1:
        return str(
            rng.choice(
                [
                    f"Multiple nodules are observed in both lungs, the largest measuring {size:.0f} mm in the {big['lobe']}.",
                    f"There are {len(nods)} nodules in the lung parenchyma; the largest is a {big['kind']} nodule of {size:.0f} mm in the {big['lobe']}.",
                ]
            )
        )
    if size < 6:
        return str(
            rng.choice(
                [
                    f"{_a(size)} {size:.0f} mm nonspecific nodule is observed in the {big['lobe']}.",
                    f"A millimetric nodule was observed in the {big['lobe']} (intrapulmonary lymph node?).",
                ]
            )
        )
    return str(
        rng.choice(
            [
                f"A {big['kind']} nodule measuring {size:.0f} mm is observed in the {big['lobe']}.",
                f"In the {big['lobe']}, a {size:.0f} mm {big['kind']} nodular lesion was detected.",
                f"A {big['kind']} nodule with a diameter of {size / 10:.1f} cm is seen in the {big['lobe']}; follow-up is recommended.",
            ]
        )
    )


PHRASES: dict[str, Callable[[dict, float, Rng], str]] = {
    "Medical material": lambda d, s, r: " ".join(
        {
            "sternotomy wires": "Sternotomy wires secondary to previous cardiac surgery are observed.",
            "pacemaker": str(
                r.choice(
                    [
                        "A pacemaker is present with leads extending to the right heart chambers.",
                        "Cardiac pacemaker device and leads are observed.",
                    ]
                )
            ),
            "port catheter": "A port catheter is observed with its tip at the superior vena cava-right atrium junction.",
            "surgical clips": "Metallic surgical clips are observed in the mediastinum.",
        }[x]
        for x in d.get("devices", ["surgical clips"])
    ),
    "Arterial wall calcification": lambda d, s, r: str(
        r.choice(
            [
                "Calcific atheroma plaques are observed in the thoracic aorta.",
                f"{_sev_word(s, r).capitalize()} atherosclerotic calcifications were observed in the wall of the aortic arch and descending aorta.",
                "Atheromatous plaques with calcifications are present in the aortic wall.",
            ]
        )
    ),
    "Cardiomegaly": lambda d, s, r: str(
        r.choice(
            [
                "The heart size is increased (cardiomegaly).",
                "Cardiomegaly is observed.",
                f"{_sev_word(s, r).capitalize()} cardiomegaly is present.",
            ]
        )
    ),
    "Pericardial effusion": lambda d, s, r: str(
        r.choice(
            [
                f"Pericardial effusion reaching {d.get('thickness_mm', 8)} mm in thickness was observed.",
                f"{_sev_word(s, r).capitalize()} pericardial effusion is present.",
                "Pericardial fluid is observed.",
            ]
        )
    ),
    "Coronary artery wall calcification": lambda d, s, r: str(
        r.choice(
            [
                f"Calcific plaques are observed in the coronary arteries ({', '.join(d.get('vessels', ['LAD']))}).",
                "Coronary artery calcifications are present.",
                f"{_sev_word(s, r).capitalize()} calcified plaques were observed in the coronary artery walls.",
            ]
        )
    ),
    "Hiatal hernia": lambda d, s, r: str(
        r.choice(
            [
                "Hiatal hernia is observed.",
                f"A sliding type hiatal hernia measuring {d.get('size_mm', 30) / 10:.1f} cm is seen.",
                "Part of the stomach has herniated through the esophageal hiatus (hiatal hernia).",
            ]
        )
    ),
    "Lymphadenopathy": lambda d, s, r: str(
        r.choice(
            [
                f"Lymph nodes with a short axis reaching {max(d.get('short_axis_mm', [12]))} mm are observed in the {' and '.join(d.get('stations', ['mediastinal'])[:2])} area.",
                "Enlarged lymph nodes in pathological dimensions were observed in the mediastinum.",
                f"Mediastinal lymphadenopathy is present, the largest node measuring {max(d.get('short_axis_mm', [12]))} mm in short axis.",
            ]
        )
    ),
    "Emphysema": lambda d, s, r: str(
        r.choice(
            [
                f"{d.get('kind', 'centrilobular').capitalize()} emphysematous changes are observed in both lungs, more prominent in the upper lobes.",
                f"{_sev_word(s, r).capitalize()} emphysema is present in both lungs.",
                "Emphysematous areas are observed in the upper lobes.",
            ]
        )
    )
    + (" Bullous lesions are also present." if d.get("bullae") else ""),
    "Atelectasis": lambda d, s, r: str(
        r.choice(
            [
                f"{d.get('kind', 'linear').capitalize()} atelectasis is observed in the lower lobe {_side_words(d.get('side', ''))}.",
                f"Subsegmental atelectatic changes are seen in the lung bases {_side_words(d.get('side', ''))}.",
                f"Atelectasis was observed in the dependent parts of the lower lobes {_side_words(d.get('side', ''))}.",
            ]
        )
    )
    + (" There is accompanying volume loss." if d.get("volume_loss") else ""),
    "Lung nodule": _nodules,
    "Lung opacity": lambda d, s, r: str(
        r.choice(
            [
                f"Ground-glass opacities are observed in the {'basal segments' if d.get('zone') == 'basal' else 'upper lobes' if d.get('zone') == 'upper' else 'parenchyma'} of both lungs.",
                "Patchy ground-glass density increases are seen in the lung parenchyma.",
                "Areas of increased density in ground-glass form were observed (infection?).",
            ]
        )
    ),
    "Pulmonary fibrotic sequela": lambda d, s, r: str(
        r.choice(
            [
                "Fibrotic bands and subpleural reticulation are observed at the lung bases.",
                "Pulmonary fibrotic changes with reticular densities are observed in the basal segments.",
            ]
            if d.get("reticulation")
            else [
                "Pleuroparenchymal sequelae changes are observed in the apex of both lungs.",
                "Fibrotic sequelae densities were observed in both lung apices.",
            ]
        )
    ),
    "Pleural effusion": lambda d, s, r: str(
        r.choice(
            [
                f"Pleural effusion measuring {d.get('thickness_mm', 20)} mm in the thickest part is observed {_side_words(d.get('side', ''))}.",
                f"{_sev_word(s, r).capitalize()} pleural effusion is present {_side_words(d.get('side', ''))}.",
                f"Pleural fluid is observed {_side_words(d.get('side', ''))}.",
            ]
        )
    ),
    "Mosaic attenuation pattern": lambda d, s, r: str(
        r.choice(
            [
                "Mosaic attenuation pattern is observed in both lungs.",
                "There are areas of mosaic perfusion in the lung parenchyma (small airway disease?).",
                "A mosaic attenuation pattern is noted, more evident in the lower lobes.",
            ]
        )
    ),
    "Peribronchial thickening": lambda d, s, r: str(
        r.choice(
            [
                "Peribronchial thickening was observed, more prominent in the lower lobes.",
                "Peribronchial thickening is observed in both lungs.",
                f"{_sev_word(s, r).capitalize()} peribronchial thickening was observed at the central level.",
            ]
        )
    ),
    "Consolidation": lambda d, s, r: str(
        r.choice(
            [
                f"Consolidation with air bronchograms is observed in the {d.get('lobe', 'lower lobe')}.",
                f"An area of consolidation was observed in the {d.get('lobe', 'lower lobe')} (pneumonia?).",
                f"Consolidated areas are present in the {d.get('lobe', 'lower lobe')}.",
            ]
        )
    ),
    "Bronchiectasis": lambda d, s, r: str(
        r.choice(
            [
                "Cylindrical bronchiectasis is observed in both lower lobes.",
                f"{'Varicose' if s > 0.6 else 'Cylindrical'} bronchiectatic changes were observed in the lung parenchyma.",
                "Bronchiectasis is present; the bronchi are wider than the accompanying arteries.",
            ]
        )
    ),
    "Interlobular septal thickening": lambda d, s, r: str(
        r.choice(
            [
                "Interlobular septal thickening is observed in both lungs.",
                "Thickening of the interlobular septa was observed, more prominent in the basal and peripheral areas.",
                "Smooth interlobular septal thickenings are seen.",
            ]
        )
    ),
}

NEGATIONS: dict[str, tuple[float, tuple[str, ...]]] = {
    "Cardiomegaly": (
        0.85,
        ("Heart contour and size are normal.", "The heart size is within normal limits."),
    ),
    "Pericardial effusion": (
        0.85,
        (
            "Pericardial effusion-thickening was not observed.",
            "No pericardial effusion was detected.",
        ),
    ),
    "Lymphadenopathy": (
        0.85,
        (
            "No enlarged lymph nodes in prevascular, pre-paratracheal, subcarinal or bilateral hilar-axillary pathological dimensions were detected.",
            "No lymph node was detected in mediastinal or hilar pathological size.",
        ),
    ),
    "Pleural effusion": (
        0.8,
        ("Pleural effusion-thickening was not detected.", "No pleural effusion is observed."),
    ),
    "Hiatal hernia": (0.25, ("No hiatal hernia was observed.",)),
    "Emphysema": (0.2, ("No emphysematous changes were observed.",)),
    "Consolidation": (
        0.3,
        (
            "No consolidation was observed.",
            "There is no consolidation or infiltration in the lungs.",
        ),
    ),
    "Lung nodule": (0.35, ("No nodular lesion was detected in the lung parenchyma.",)),
    "Bronchiectasis": (0.1, ("No bronchiectasis.",)),
    "Coronary artery wall calcification": (
        0.15,
        ("No calcification was observed in the coronary arteries.",),
    ),
}

ORDER_MEDIASTINUM = (
    "Medical material",
    "Cardiomegaly",
    "Arterial wall calcification",
    "Coronary artery wall calcification",
    "Pericardial effusion",
    "Hiatal hernia",
    "Lymphadenopathy",
)
ORDER_LUNG = (
    "Emphysema",
    "Peribronchial thickening",
    "Bronchiectasis",
    "Mosaic attenuation pattern",
    "Lung opacity",
    "Consolidation",
    "Interlobular septal thickening",
    "Pulmonary fibrotic sequela",
    "Atelectasis",
    "Lung nodule",
    "Pleural effusion",
)

OPENINGS = (
    "Trachea, both main bronchi are open.",
    "Trachea and both main bronchi were in the midline and no obstructive pathology was observed"
    " in the lumen.",
)

INCIDENTAL = (
    (
        "{a} {n} mm hypodense lesion is observed in the liver (cyst?).",
        "Hypodense lesion in the liver (cyst?).",
    ),
    (
        "Degenerative osteophytes were observed at the vertebral endplates.",
        "Degenerative changes in the thoracic spine.",
    ),
    ("{a} {n} mm nodule was observed in the right lobe of the thyroid gland.", "Thyroid nodule."),
    (
        "Thickening of the left adrenal gland was observed (hyperplasia?).",
        "Left adrenal thickening.",
    ),
    ("Gallbladder stones were observed.", "Cholelithiasis."),
)


def write_report(
    present: dict[str, float], details: dict[str, dict], rng: Rng
) -> tuple[str, dict[str, int]]:
    """Report text and what it states for each conventional task (1 / 0 / -1)."""
    stated = {t.name: -1 for t in CONVENTIONAL}
    mentioned: list[str] = []  # sentences stating present findings, reused in the impression

    def say(names: tuple[str, ...]) -> list[str]:
        out = []
        for name in names:
            if name in present:
                sev = present[name]
                if rng.random() < 0.04 + 0.12 * (1 - sev):
                    continue
                sentence = PHRASES[name](details.get(name, {}), sev, rng)
                out.append(sentence)
                mentioned.append(sentence)
                stated[name] = 1
            elif name in NEGATIONS and rng.random() < NEGATIONS[name][0]:
                out.append(str(rng.choice(NEGATIONS[name][1])))
                stated[name] = 0
        return out

    parts = [str(rng.choice(OPENINGS))]
    parts += say(ORDER_MEDIASTINUM)
    parts.append(
        "Thoracic esophagus calibration was normal." if "Hiatal hernia" not in present else ""
    )
    parts.append("When examined in the lung parenchyma window;")
    lung = say(ORDER_LUNG)
    if not any(n in present for n in ORDER_LUNG):
        stated.update({n: 0 for n in ("Lung nodule", "Lung opacity")})
        lung.insert(
            0,
            "Aeration of both lung parenchyma is normal and no nodular or infiltrative lesion is detected in the lung parenchyma.",
        )
    parts += lung
    impressions = [sentence.split(";")[0].split(". ")[0].rstrip(".") for sentence in mentioned[:5]]
    parts += _incidental(rng, impressions)
    body = " ".join(p for p in parts if p)
    impression = (
        " ".join(f"• {x}." for x in impressions)
        if impressions
        else "Thoracic CT examination within normal limits"
    )
    return f"{body} {impression}", stated


def _incidental(rng: Rng, impressions: list[str]) -> list[str]:
    """0-2 findings outside the 18 tasks (also added to the impression) and the abdomen line."""
    chosen = rng.choice(len(INCIDENTAL), size=int(rng.integers(0, 3)), replace=False)
    out = []
    for k in chosen:
        text, short = INCIDENTAL[k]
        size = int(rng.integers(4, 20))
        out.append(text.format(n=size, a=_a(size)))
        impressions.append(short.rstrip("."))
    out.append(
        "Upper abdominal organs included in the sections are otherwise normal."
        if len(chosen)
        else "Upper abdominal organs included in the sections are normal."
    )
    return out
