"""TotalSegmentator v2 label ids and the small label sets used for anatomy supervision.

TotalSegmentator (Wasserthal et al., Radiology: AI 2023) writes one multi-label NIfTI whose
voxel values are the ids of its "total" task (v2, 117 classes), or one binary NIfTI per structure
named ``<structure>.nii.gz``. The ids below were checked against TotalSegmentator's
``totalsegmentator/map_to_binary.py`` (``class_map["total"]``) and against the label table that
TotalSegmentator embeds in its multi-label output (``../shared/data/real_ct``).

Anatomy supervision ("Scaling Supervision for Free", MIDL 2025) trains on a few coarse structures,
so a :class:`LabelSet` maps TotalSegmentator structures onto small consecutive ids: 0 is
background, 1..K the set's classes, and :data:`hyperct.tasks.IGNORE_INDEX` marks voxels without a
label (padding, scans without a mask; losses ignore it). This module imports nothing heavy so any
part of the package can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hyperct.tasks import IGNORE_INDEX

#: TotalSegmentator v2 "total" task structures in id order: the structure at position i has id i+1.
_TOTAL_V2_NAMES = (
    "spleen",
    "kidney_right",
    "kidney_left",
    "gallbladder",
    "liver",
    "stomach",
    "pancreas",
    "adrenal_gland_right",
    "adrenal_gland_left",
    "lung_upper_lobe_left",
    "lung_lower_lobe_left",
    "lung_upper_lobe_right",
    "lung_middle_lobe_right",
    "lung_lower_lobe_right",
    "esophagus",
    "trachea",
    "thyroid_gland",
    "small_bowel",
    "duodenum",
    "colon",
    "urinary_bladder",
    "prostate",
    "kidney_cyst_left",
    "kidney_cyst_right",
    "sacrum",
    "vertebrae_S1",
    "vertebrae_L5",
    "vertebrae_L4",
    "vertebrae_L3",
    "vertebrae_L2",
    "vertebrae_L1",
    "vertebrae_T12",
    "vertebrae_T11",
    "vertebrae_T10",
    "vertebrae_T9",
    "vertebrae_T8",
    "vertebrae_T7",
    "vertebrae_T6",
    "vertebrae_T5",
    "vertebrae_T4",
    "vertebrae_T3",
    "vertebrae_T2",
    "vertebrae_T1",
    "vertebrae_C7",
    "vertebrae_C6",
    "vertebrae_C5",
    "vertebrae_C4",
    "vertebrae_C3",
    "vertebrae_C2",
    "vertebrae_C1",
    "heart",
    "aorta",
    "pulmonary_vein",
    "brachiocephalic_trunk",
    "subclavian_artery_right",
    "subclavian_artery_left",
    "common_carotid_artery_right",
    "common_carotid_artery_left",
    "brachiocephalic_vein_left",
    "brachiocephalic_vein_right",
    "atrial_appendage_left",
    "superior_vena_cava",
    "inferior_vena_cava",
    "portal_vein_and_splenic_vein",
    "iliac_artery_left",
    "iliac_artery_right",
    "iliac_vena_left",
    "iliac_vena_right",
    "humerus_left",
    "humerus_right",
    "scapula_left",
    "scapula_right",
    "clavicula_left",
    "clavicula_right",
    "femur_left",
    "femur_right",
    "hip_left",
    "hip_right",
    "spinal_cord",
    "gluteus_maximus_left",
    "gluteus_maximus_right",
    "gluteus_medius_left",
    "gluteus_medius_right",
    "gluteus_minimus_left",
    "gluteus_minimus_right",
    "autochthon_left",
    "autochthon_right",
    "iliopsoas_left",
    "iliopsoas_right",
    "brain",
    "skull",
    *(f"rib_left_{i}" for i in range(1, 13)),
    *(f"rib_right_{i}" for i in range(1, 13)),
    "sternum",
    "costal_cartilages",
)

#: TotalSegmentator v2 "total" task: structure name -> voxel id (1..117; 0 is background).
TOTALSEG_V2_IDS: dict[str, int] = {name: i + 1 for i, name in enumerate(_TOTAL_V2_NAMES)}

#: Inverse of :data:`TOTALSEG_V2_IDS`: voxel id -> structure name.
TOTALSEG_V2_NAMES: dict[int, str] = {i: name for name, i in TOTALSEG_V2_IDS.items()}

LUNG_LOBES = (
    "lung_upper_lobe_left",
    "lung_lower_lobe_left",
    "lung_upper_lobe_right",
    "lung_middle_lobe_right",
    "lung_lower_lobe_right",
)


@dataclass(frozen=True)
class LabelSet:
    """A small set of anatomy classes built from TotalSegmentator structures.

    Attributes:
        name: short identifier, stored with checkpoints and caches.
        classes: ``(class name, TotalSegmentator structures merged into it)`` in id order; class
            i gets id i+1, background (every other structure and unlabeled body) gets 0.
    """

    name: str
    classes: tuple[tuple[str, tuple[str, ...]], ...]

    def __post_init__(self) -> None:
        if not self.classes:
            raise ValueError(f"label set {self.name!r}: classes is empty")
        if len(self.classes) >= IGNORE_INDEX:
            raise ValueError(f"label set {self.name!r}: at most {IGNORE_INDEX - 1} classes")
        seen: dict[str, str] = {}
        for cls, structures in self.classes:
            if not structures:
                raise ValueError(f"label set {self.name!r}: class {cls!r} lists no structures")
            for s in structures:
                if s not in TOTALSEG_V2_IDS:
                    raise ValueError(
                        f"label set {self.name!r}: class {cls!r} names {s!r}, which is not a "
                        "TotalSegmentator v2 'total' structure"
                    )
                if s in seen:
                    raise ValueError(
                        f"label set {self.name!r}: structure {s!r} is in both {seen[s]!r} and {cls!r}"
                    )
                seen[s] = cls

    @property
    def num_classes(self) -> int:
        """Number of output channels of a segmentation head, background included."""
        return len(self.classes) + 1

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names indexed by small id: ``("background", ...)``."""
        return ("background",) + tuple(cls for cls, _ in self.classes)

    def totalseg_to_small(self) -> dict[int, int]:
        """TotalSegmentator v2 id -> small id, for every structure the set uses."""
        return {
            TOTALSEG_V2_IDS[s]: small_id
            for small_id, (_, structures) in enumerate(self.classes, start=1)
            for s in structures
        }

    def lookup_table(self) -> list[int]:
        """Table indexed by a voxel value 0..255 -> small id; :data:`IGNORE_INDEX` maps to itself.

        ``torch.tensor(label_set.lookup_table())[mask]`` maps a TotalSegmentator map on the fly.
        """
        table = [0] * 256
        for ts_id, small_id in self.totalseg_to_small().items():
            table[ts_id] = small_id
        table[IGNORE_INDEX] = IGNORE_INDEX
        return table


#: Default set: background, the five lung lobes and the heart -> ids 0..6.
CHEST_LOBES_HEART = LabelSet(
    name="chest_lobes_heart",
    classes=tuple((s, (s,)) for s in LUNG_LOBES) + (("heart", ("heart",)),),
)

#: Coarse chest set: both lungs as one class each side, heart, aorta, trachea, esophagus.
CHEST_COARSE = LabelSet(
    name="chest_coarse",
    classes=(
        ("lung_left", ("lung_upper_lobe_left", "lung_lower_lobe_left")),
        ("lung_right", LUNG_LOBES[2:]),
        ("heart", ("heart",)),
        ("aorta", ("aorta",)),
        ("trachea", ("trachea",)),
        ("esophagus", ("esophagus",)),
    ),
)

#: Abdominal organs, for abdominal-CT classification (the setting of the RATIC experiments).
ABDOMEN = LabelSet(
    name="abdomen",
    classes=(
        ("liver", ("liver",)),
        ("spleen", ("spleen",)),
        ("kidney_left", ("kidney_left", "kidney_cyst_left")),
        ("kidney_right", ("kidney_right", "kidney_cyst_right")),
        ("pancreas", ("pancreas",)),
        ("stomach", ("stomach",)),
        ("gallbladder", ("gallbladder",)),
        ("bowel", ("small_bowel", "duodenum", "colon")),
        ("urinary_bladder", ("urinary_bladder",)),
    ),
)

LABEL_SETS: dict[str, LabelSet] = {s.name: s for s in (CHEST_LOBES_HEART, CHEST_COARSE, ABDOMEN)}


def get_label_set(name: str) -> LabelSet:
    """The registered label set called ``name``."""
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise ValueError(
            f"unknown label set {name!r}; choose one of {sorted(LABEL_SETS)}"
        ) from None
