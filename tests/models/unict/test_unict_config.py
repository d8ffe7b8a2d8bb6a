import pytest

from hyperct.findings_categories import CATEGORY_CODES
from hyperct.models.unict import UniCTConfig
from hyperct.tasks import CONVENTIONAL


def test_defaults_are_the_ct_rate_findings_and_the_rexgroundingct_categories():
    config = UniCTConfig()
    assert config.classes == tuple(t.name for t in CONVENTIONAL)
    assert config.num_classes == 18
    assert config.seg_classes == CATEGORY_CODES and config.num_seg_classes == 14


def test_a_config_that_supervises_nothing_is_refused_naming_the_fields():
    with pytest.raises(ValueError, match="supervise_classification, supervise_segmentation"):
        UniCTConfig(
            supervise_classification=False, supervise_segmentation=False, supervise_report=False
        )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"encoder": "swin2d"}, "encoder"),
        ({"slice_window": 4}, "slice_window"),
        ({"dim": 30, "heads": 4}, "dim"),
        ({"cnn_depth": 50}, "cnn_depth"),
        ({"classes": ()}, "classes"),
        ({"seg_classes": ("1a", "1a")}, "seg_classes"),
        ({"weight_report": -1.0}, "weight_report"),
        ({"decoder": {"vocab_size": 10}}, "decoder"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_fields_are_refused_by_name(fields, field):
    with pytest.raises(ValueError, match=f"UniCTConfig.{field}"):
        UniCTConfig(**fields)


def test_dict_round_trip():
    config = UniCTConfig(encoder="volume3d", classes=("a", "b"), fusion=False)
    assert UniCTConfig.from_dict(config.to_dict()) == config
