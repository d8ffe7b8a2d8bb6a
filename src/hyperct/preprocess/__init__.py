"""Declared preprocessing specs, resampling, windowing and 2.5D triplet packing."""

from hyperct.preprocess.packing import pack_triplets, triplet_middle_labels, unpack_triplets
from hyperct.preprocess.pipeline import preprocess_mask, preprocess_volume, to_model_input
from hyperct.preprocess.spec import (
    NAMED_SPECS,
    PreprocessSpec,
    SliceStackSpec,
    SpacingCropSpec,
    load_spec,
    spec_from_dict,
    spec_from_json,
)

__all__ = [
    "NAMED_SPECS",
    "PreprocessSpec",
    "SliceStackSpec",
    "SpacingCropSpec",
    "load_spec",
    "pack_triplets",
    "preprocess_mask",
    "preprocess_volume",
    "spec_from_dict",
    "spec_from_json",
    "to_model_input",
    "triplet_middle_labels",
    "unpack_triplets",
]
