"""Declared preprocessing specs: frozen dataclasses saved as JSON with every cache and checkpoint.

A spec says how a CT becomes model input. Two are built in:

* :class:`SliceStackSpec` (HyperCT paper, 2.5D): resize to slices x size x size, window HU,
  ImageNet mean/std, consecutive slice triplets as RGB-like images.
* :class:`SpacingCropSpec` (anatomy-supervision paper, 3D): resample to a target spacing, clip HU
  to [-1, 1], pad/crop, random crop for training and centre crop for evaluation.

All shapes and spacings are in the (z, y, x) order of :class:`hyperct.io.volume.Volume`
(z inferior->superior, y anterior->posterior, x right->left), named ``*_zyx``.

>>> spec = SliceStackSpec()
>>> spec_from_json(spec.to_json()) == spec, len(spec.hash())
(True, 16)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Union

from hyperct.configs import spec_names, spec_source

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _SpecBase:
    """JSON round trip and a stable content hash shared by the specs."""

    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    def hash(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON: equal specs, equal hash."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _pair(name: str, value: tuple[float, float]) -> None:
    if len(value) != 2 or not value[0] < value[1]:
        raise ValueError(f"{name} must be (low, high) with low < high, got {value}")


def _positive(name: str, value: tuple, n: int) -> None:
    if len(value) != n or not all(v > 0 for v in value):
        raise ValueError(f"{name} must be {n} positive numbers, got {value}")


@dataclass(frozen=True)
class SliceStackSpec(_SpecBase):
    """2.5D input of the HyperCT paper.

    The cache holds the volume resized by trilinear interpolation to (slices, size, size) as
    int16 HU. When served: window ``hu_window`` -> [0, 1], pack consecutive triplets
    (image j = slices 3j, 3j+1, 3j+2), normalise channel c with ``mean[c]``, ``std[c]``.
    """

    kind: ClassVar[str] = "slice_stack"
    slices: int = 165
    size: int = 144
    hu_window: tuple[float, float] = (-1000.0, 1000.0)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.slices < 3 or self.size < 1:
            raise ValueError(
                f"slices must be >= 3 and size >= 1, got slices={self.slices}, size={self.size}"
            )
        _pair("hu_window", self.hu_window)
        _positive("std", self.std, 3)
        if len(self.mean) != 3:
            raise ValueError(f"mean must have 3 values (one per triplet channel), got {self.mean}")

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """Shape (z, y, x) of the cached grid."""
        return (self.slices, self.size, self.size)

    @property
    def n_images(self) -> int:
        return -(-self.slices // 3)


@dataclass(frozen=True)
class SpacingCropSpec(_SpecBase):
    """3D input of the anatomy-supervision paper.

    The cache holds the volume resampled (trilinear) to ``spacing_zyx`` mm and padded with
    ``pad_hu`` / centre-cropped to ``pad_shape_zyx``, as int16 HU. When served: clip to
    ``hu_clip`` -> [-1, 1], then a random crop of ``crop_shape_zyx`` in training, the centre crop
    at evaluation, giving ``(1, D, H, W)`` = (1, z, y, x). The paper's 240 x 240 x 120 (x, y, z)
    pad shape is (120, 240, 240) here.
    """

    kind: ClassVar[str] = "spacing_crop"
    spacing_zyx: tuple[float, float, float] = (3.0, 1.5, 1.5)
    hu_clip: tuple[float, float] = (-1000.0, 200.0)
    pad_shape_zyx: tuple[int, int, int] = (120, 240, 240)
    crop_shape_zyx: tuple[int, int, int] = (96, 192, 192)
    pad_hu: int = -1024

    def __post_init__(self) -> None:
        _positive("spacing_zyx", self.spacing_zyx, 3)
        _positive("pad_shape_zyx", self.pad_shape_zyx, 3)
        _positive("crop_shape_zyx", self.crop_shape_zyx, 3)
        _pair("hu_clip", self.hu_clip)
        if any(c > p for c, p in zip(self.crop_shape_zyx, self.pad_shape_zyx)):
            raise ValueError(
                f"crop_shape_zyx {self.crop_shape_zyx} exceeds pad_shape_zyx {self.pad_shape_zyx}"
            )

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        return tuple(self.pad_shape_zyx)  # type: ignore[return-value]


PreprocessSpec = Union[SliceStackSpec, SpacingCropSpec]
SPEC_KINDS: dict[str, type] = {
    SliceStackSpec.kind: SliceStackSpec,
    SpacingCropSpec.kind: SpacingCropSpec,
}
#: Named specs accepted wherever a spec is asked for (``hyperct prepare --spec paper``).
NAMED_SPECS: dict[str, PreprocessSpec] = {"paper": SliceStackSpec(), "anatomy3d": SpacingCropSpec()}


def spec_from_dict(data: dict[str, Any]) -> PreprocessSpec:
    """Rebuild a spec from :meth:`to_dict` output; unknown kinds or fields are refused."""
    data = dict(data)
    kind = data.pop("kind", None)
    if kind not in SPEC_KINDS:
        raise ValueError(
            f"unknown preprocessing spec kind {kind!r}; expected one of {sorted(SPEC_KINDS)}"
        )
    cls = SPEC_KINDS[kind]
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"spec of kind {kind!r} has unknown field(s) {sorted(unknown)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def spec_from_json(text: str) -> PreprocessSpec:
    return spec_from_dict(json.loads(text))


def load_spec(name_or_path: str | Path | PreprocessSpec) -> PreprocessSpec:
    """A spec by name (``paper``, ``anatomy3d``, a shipped one such as ``demo``), from a JSON
    file, or passed through."""
    if isinstance(name_or_path, (SliceStackSpec, SpacingCropSpec)):
        return name_or_path
    key = str(name_or_path)
    if key in NAMED_SPECS:
        return NAMED_SPECS[key]
    path = spec_source(key)
    if not path.is_file():
        names = sorted({*NAMED_SPECS, *spec_names()})
        raise ValueError(f"spec {key!r} is neither a named spec {names} nor a JSON file")
    try:
        return spec_from_json(path.read_text())
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a valid preprocessing spec ({exc})") from exc
