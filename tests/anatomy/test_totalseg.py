"""The TotalSegmentator v2 id table and the small label sets."""

import re

import nibabel as nib
import pytest

from hyperct.anatomy.totalseg import (
    ABDOMEN,
    CHEST_LOBES_HEART,
    TOTALSEG_V2_IDS,
    TOTALSEG_V2_NAMES,
    LabelSet,
    get_label_set,
)


def test_table_has_117_classes_with_known_ids() -> None:
    assert len(TOTALSEG_V2_IDS) == 117
    assert sorted(TOTALSEG_V2_NAMES) == list(range(1, 118))
    assert TOTALSEG_V2_IDS["lung_upper_lobe_left"] == 10
    assert TOTALSEG_V2_IDS["lung_lower_lobe_right"] == 14
    assert TOTALSEG_V2_IDS["heart"] == 51
    assert TOTALSEG_V2_IDS["costal_cartilages"] == 117


def test_table_matches_label_table_embedded_in_real_output(real_ct) -> None:
    img = nib.load(real_ct / "ts_example_ct_sm_totalseg.nii.gz")
    xml = img.header.extensions[0].get_content().decode()
    embedded = {int(k): v for k, v in re.findall(r'Key="(\d+)"[^>]*><!\[CDATA\[(\w+)\]\]', xml)}
    assert embedded == TOTALSEG_V2_NAMES


def test_default_set_is_background_lobes_heart() -> None:
    assert CHEST_LOBES_HEART.num_classes == 7
    assert CHEST_LOBES_HEART.class_names[0] == "background"
    assert CHEST_LOBES_HEART.totalseg_to_small() == {10: 1, 11: 2, 12: 3, 13: 4, 14: 5, 51: 6}
    assert get_label_set("abdomen") is ABDOMEN


def test_label_set_validation_names_the_problem() -> None:
    with pytest.raises(ValueError, match="lung_left_upper"):
        LabelSet("bad", (("x", ("lung_left_upper",)),))
    with pytest.raises(ValueError, match="both"):
        LabelSet("dup", (("a", ("heart",)), ("b", ("heart",))))
    with pytest.raises(ValueError, match="unknown label set"):
        get_label_set("nope")


def test_lookup_table_keeps_ignore_index() -> None:
    from hyperct.tasks import IGNORE_INDEX

    table = CHEST_LOBES_HEART.lookup_table()
    assert len(table) == 256
    assert table[51] == 6 and table[5] == 0 and table[IGNORE_INDEX] == IGNORE_INDEX
