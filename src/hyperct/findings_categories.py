"""The 14 ReXGroundingCT finding categories: the single source of their codes, names and columns.

ReXGroundingCT (Baharoon et al., 2025) files every grounded finding sentence under one code of a
two-level ontology: ``1x`` non-focal (diffuse) and ``2x`` focal abnormalities of the lung and
pleura. The adapter, the mask pipeline and the segmentation metrics all refer to this module.
A manifest carries one 0/1 column per category, named :attr:`FindingCategory.column`; the
``rex_`` prefix keeps them apart from the 25 task columns. Imports nothing heavy on purpose.

>>> from hyperct.findings_categories import category_by_code
>>> category_by_code("2d").name, category_by_code("2d").column
('Nodules / masses', 'rex_2d_nodules_masses')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COLUMN_PREFIX = "rex_"


@dataclass(frozen=True)
class FindingCategory:
    """One ReXGroundingCT category: its code (``1a`` ... ``2h``), name and whether it is focal."""

    code: str
    name: str
    focal: bool

    @property
    def column(self) -> str:
        """Manifest column: ``rex_<code>_<name in snake case>``."""
        slug = re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")
        return f"{COLUMN_PREFIX}{self.code}_{slug}"


CATEGORIES: tuple[FindingCategory, ...] = (
    FindingCategory("1a", "Bronchial wall thickening", focal=False),
    FindingCategory("1b", "Bronchiectasis", focal=False),
    FindingCategory("1c", "Emphysema", focal=False),
    FindingCategory("1d", "Septal thickening", focal=False),
    FindingCategory("1e", "Micronodules", focal=False),
    FindingCategory("1f", "Other non-focal", focal=False),
    FindingCategory("2a", "Linear opacities", focal=True),
    FindingCategory("2b", "Atelectasis / consolidation", focal=True),
    FindingCategory("2c", "Ground-glass opacity", focal=True),
    FindingCategory("2d", "Nodules / masses", focal=True),
    FindingCategory("2e", "Pleural effusion / thickening", focal=True),
    FindingCategory("2f", "Honeycombing", focal=True),
    FindingCategory("2g", "Pneumothorax", focal=True),
    FindingCategory("2h", "Other focal", focal=True),
)
CATEGORY_CODES: tuple[str, ...] = tuple(c.code for c in CATEGORIES)
CATEGORY_COLUMNS: tuple[str, ...] = tuple(c.column for c in CATEGORIES)
_BY_CODE = {c.code: c for c in CATEGORIES}


def category_by_code(code: str) -> FindingCategory:
    """The category of a code (``"2d"``; case and blanks ignored); KeyError lists the codes."""
    try:
        return _BY_CODE[str(code).strip().lower()]
    except KeyError:
        raise KeyError(
            f"unknown ReXGroundingCT category code {code!r} (known: {', '.join(CATEGORY_CODES)})"
        ) from None


#: The finding-mask channel catalogue: channel ``c`` of every cached finding-mask stack
#: ``(C, z, y, x)`` is ``CATEGORIES[c]``, whatever the source (ReXGroundingCT, the phantom).
#: Its names (``"2d Nodules / masses"``) are recorded in the cache's spec.json.
MASK_CHANNELS: tuple[str, ...] = tuple(f"{c.code} {c.name}" for c in CATEGORIES)

#: The category a mask drawn for a CT-RATE finding (the phantom's per-task bitmask) is filed
#: under. The findings of the heart, vessels, mediastinum and devices (medical material,
#: arterial and coronary calcification, cardiomegaly, pericardial effusion, hiatal hernia,
#: lymphadenopathy) lie outside ReXGroundingCT's lung-and-pleura ontology and have no channel.
TASK_CATEGORY: dict[str, str] = {
    "Peribronchial thickening": "1a",
    "Bronchiectasis": "1b",
    "Emphysema": "1c",
    "Interlobular septal thickening": "1d",
    "Mosaic attenuation pattern": "1f",
    "Pulmonary fibrotic sequela": "2a",
    "Atelectasis": "2b",
    "Consolidation": "2b",
    "Lung opacity": "2c",
    "Lung nodule": "2d",
    "Pleural effusion": "2e",
}


def channel_of(code: str) -> int:
    """Channel of a category code in :data:`MASK_CHANNELS` (KeyError lists the codes)."""
    return CATEGORIES.index(category_by_code(code))
