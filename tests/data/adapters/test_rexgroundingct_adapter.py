"""ReXGroundingCT adapter on a small fake tree in the release's formats (tests/conftest.py)."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from hyperct.data.adapters.rexgroundingct import RexLayout, adapt_rexgroundingct
from hyperct.data.manifest import check_manifest, load_manifest
from hyperct.findings_categories import CATEGORIES, CATEGORY_COLUMNS, category_by_code
from hyperct.tasks import CONVENTIONAL, OPPORTUNISTIC


def _adapt(root: Path, **kwargs):
    return adapt_rexgroundingct(root, root.parent / "out" / "manifest.csv", **kwargs)


def _mask_file(root: Path, scan_id: str) -> Path:
    return root / "segmentations" / f"{scan_id}.nii.gz"


def _edit_json(root: Path, edit) -> None:
    path = root / "dataset.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_manifest_columns_splits_patients_categories(rex_tree, rex_scans) -> None:
    root = rex_tree()
    result = _adapt(root)
    assert result.ok and result.errors_path.is_file()
    df = load_manifest(result.manifest_path).set_index("scan_id")
    expected = {scan: split for split, items in rex_scans.items() for scan, _ in items}
    assert df["split"].to_dict() == expected
    raw_table = pd.read_csv(result.manifest_path)
    assert check_manifest(raw_table, base_dir=result.manifest_path.parent)[1].warnings == []
    assert df.loc["train_1_a_2", "patient_id"] == "train_1"
    assert df.loc["valid_6_b_2", "patient_id"] == "valid_6"
    assert (df["cohort"] == "rexgroundingct").all()
    assert (df[[t.name for t in CONVENTIONAL + OPPORTUNISTIC]] == -1).all().all()
    raw = pd.read_csv(result.manifest_path, dtype=str).set_index("scan_id")
    assert raw.loc["train_1_a_1", category_by_code("2d").column] == "1"
    assert raw.loc["train_1_a_1", category_by_code("1c").column] == "1"
    assert raw.loc["train_1_a_1", category_by_code("2e").column] == "0"
    assert raw[list(CATEGORY_COLUMNS)].astype(int).to_numpy().sum() == sum(
        len(findings) for items in rex_scans.values() for _, findings in items
    )
    assert not Path(raw.loc["train_1_a_1", "findings_mask_path"]).is_absolute()
    assert Path(df.loc["train_1_a_1", "path"]).name == "train_1_a_1.nii.gz"
    assert df.loc["train_1_a_1", "report_text"] == (
        "Nodule in the right upper lobe. Emphysema in both apices."
    )


def test_findings_table_rows_channels_voxels(rex_tree, rex_scans) -> None:
    root = rex_tree()
    result = _adapt(root)
    table = pd.read_csv(result.findings_path)
    n = sum(len(findings) for items in rex_scans.values() for _, findings in items)
    assert len(table) == n
    row = table[(table["scan_id"] == "valid_6_b_2") & (table["finding_index"] == 1)].iloc[0]
    assert row["category"] == "2a" and row["category_name"] == category_by_code("2a").name
    assert row["sentence"] == "Linear opacity in the right lobe." and row["mask_channel"] == 1
    mask = np.asanyarray(nib.load(result.findings_path.parent / row["mask_path"]).dataobj)
    assert row["voxels"] == int(mask[row["mask_channel"]].sum()) == 8
    assert (table["voxels"] == 4 * (table["finding_index"] + 1)).all()


def test_channel_last_and_flat_volumes(rex_tree, tmp_path) -> None:
    root = rex_tree(channel_axis="last")
    flat = tmp_path / "flat"
    flat.mkdir()
    for ct in root.glob("[tv]*/*/*/*.nii.gz"):
        ct.rename(flat / ct.name)
    result = _adapt(root, layout=RexLayout(channel_axis="last", volumes=flat, volume_layout="flat"))
    assert result.ok
    assert (result.findings["voxels"] == 4 * (result.findings["finding_index"] + 1)).all()
    assert load_manifest(result.manifest_path)["path"].map(lambda p: Path(p).parent == flat).all()


def test_mask_in_another_orientation_with_its_affine_is_accepted(rex_tree) -> None:
    root = rex_tree()
    path = _mask_file(root, "train_2_a_1")
    img = nib.load(path)
    data = np.asanyarray(img.dataobj)[:, ::-1]  # first spatial axis flipped ...
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1, data.shape[1] - 1
    nib.save(nib.Nifti1Image(data, img.affine @ flip), path)  # ... and described by the affine
    assert _adapt(root).ok


def test_ctrate_labels_and_reports(rex_tree, tmp_path) -> None:
    root = rex_tree()
    names = ["train_1_a_1.nii.gz", "train_2_a_1.nii.gz", "train_9_a_1.nii.gz"]
    labels = pd.DataFrame({"VolumeName": names})
    for i, task in enumerate(CONVENTIONAL):
        labels[task.name] = [(i + j) % 2 for j in range(len(names))]
    labels.to_csv(tmp_path / "train_predicted_labels.csv", index=False)
    reports = pd.DataFrame(
        {
            "VolumeName": [f"{s}.nii.gz" for s in ["train_1_a_1", "train_1_a_2", "train_2_a_1"]]
            + ["valid_5_a_1.nii.gz", "valid_6_b_2.nii.gz"],
            "Findings_EN": "A nodule.",
            "Impressions_EN": "Nodule.",
        }
    )
    reports.to_csv(tmp_path / "train_reports.csv", index=False)
    result = _adapt(
        root,
        labels_csvs=[tmp_path / "train_predicted_labels.csv"],
        reports_csvs=[tmp_path / "train_reports.csv"],
    )
    df = load_manifest(result.manifest_path).set_index("scan_id")
    assert df.loc["train_2_a_1", CONVENTIONAL[0].name] == 1  # (0 + 1) % 2
    assert df.loc["train_2_a_1", CONVENTIONAL[1].name] == 0
    assert df.loc["train_1_a_2", CONVENTIONAL[0].name] == -1  # not in the label CSV
    assert df.loc["valid_5_a_1", "report_text"] == "Findings: A nodule.\nImpressions: Nodule."


def test_patient_in_two_splits_goes_to_the_held_out_one(rex_tree, rex_scans) -> None:
    rex_scans["test"].append(("train_2_a_2", [("Honeycombing at both bases.", "2f")]))
    result = _adapt(rex_tree(rex_scans))
    df = load_manifest(result.manifest_path).set_index("scan_id")  # leakage check included
    assert df.loc["train_2_a_1", "split"] == "test" and df.loc["train_2_a_2", "split"] == "test"
    assert df.loc["train_1_a_1", "split"] == "train"


def _drop_mask(root: Path) -> str:
    _mask_file(root, "train_2_a_1").unlink()
    return "finding mask not found"


def _wrong_shape(root: Path) -> str:
    nib.save(
        nib.Nifti1Image(np.zeros((1, 8, 8, 5), np.uint8), np.diag([-0.75, -0.75, 1.5, 1.0])),
        _mask_file(root, "train_2_a_1"),
    )
    return "differs from its CT"


def _wrong_affine(root: Path) -> str:
    affine = np.diag([-0.75, -0.75, 1.5, 1.0])
    affine[2, 3] = 0.5  # half a millimetre off along z
    nib.save(
        nib.Nifti1Image(np.zeros((1, 8, 8, 6), np.uint8), affine), _mask_file(root, "train_2_a_1")
    )
    return "affine differs from its CT"


def _wrong_channels(root: Path) -> str:
    mask = np.zeros((3, 8, 8, 6), np.uint8)
    nib.save(
        nib.Nifti1Image(mask, np.diag([-0.75, -0.75, 1.5, 1.0])), _mask_file(root, "train_2_a_1")
    )
    return "3 channel(s) (shape (3, 8, 8, 6), channel axis first) but dataset.json lists 1 finding"


def _unknown_code(root: Path) -> str:
    _edit_json(root, lambda d: d["train"][2]["categories"].update({"0": "3z"}))
    return '["train"][2]["categories"]["0"]: unknown ReXGroundingCT category code \'3z\''


def _empty_sentence(root: Path) -> str:
    _edit_json(root, lambda d: d["train"][2]["findings"].update({"0": "  "}))
    return '["train"][2]["findings"]["0"]: empty finding sentence'


def _findings_not_an_object(root: Path) -> str:
    _edit_json(root, lambda d: d["train"][2].update({"findings": ["Ground-glass opacity."]}))
    return '["train"][2]["findings"]: expected an object'


def _categories_keys_mismatch(root: Path) -> str:
    _edit_json(root, lambda d: d["train"][2]["categories"].update({"1": "2d"}))
    return '["train"][2]["categories"]: keys [0, 1] do not match the findings keys [0]'


def _missing_name(root: Path) -> str:
    _edit_json(root, lambda d: d["train"][2].pop("name"))
    return '["train"][2]["name"]: expected a NIfTI file name'


def _missing_ct(root: Path) -> str:
    (root / "train" / "train_2" / "train_2_a" / "train_2_a_1.nii.gz").unlink()
    return "CT volume not found"


BAD_INPUTS = [
    _drop_mask,
    _wrong_shape,
    _wrong_affine,
    _wrong_channels,
    _unknown_code,
    _empty_sentence,
    _findings_not_an_object,
    _categories_keys_mismatch,
    _missing_name,
    _missing_ct,
]


@pytest.mark.parametrize("spoil", BAD_INPUTS, ids=[f.__name__.strip("_") for f in BAD_INPUTS])
def test_bad_scan_is_recorded_and_the_batch_goes_on(rex_tree, spoil) -> None:
    root = rex_tree()
    message = spoil(root)
    result = _adapt(root)
    assert not result.ok
    errors = pd.read_csv(result.errors_path, dtype=str, keep_default_na=False)
    assert len(errors) == 1, errors
    error = errors.iloc[0]
    assert message in error["error"], error["error"]
    assert error["file"].endswith(("dataset.json", "train_2_a_1.nii.gz")), error["file"]
    manifest = load_manifest(result.manifest_path)
    assert "train_2_a_1" not in set(manifest["scan_id"]) and len(manifest) == 4
    assert "train_2_a_1" not in set(pd.read_csv(result.findings_path)["scan_id"])


def test_affine_within_tolerance_is_accepted(rex_tree) -> None:
    root = rex_tree()
    affine = np.diag([-0.75, -0.75, 1.5, 1.0])
    affine[2, 3] = 0.001
    nib.save(
        nib.Nifti1Image(np.ones((1, 8, 8, 6), np.uint8), affine), _mask_file(root, "train_2_a_1")
    )
    assert _adapt(root).ok
    assert not _adapt(root, layout=RexLayout(affine_atol_mm=0.0001)).ok


def test_no_usable_scan_is_refused_and_the_errors_say_why(rex_tree) -> None:
    root = rex_tree(channel_axis="last")  # read as channel-first
    with pytest.raises(ValueError, match="no usable scan"):
        _adapt(root)
    errors = pd.read_csv(root.parent / "out" / "manifest_errors.csv")
    assert len(errors) == 5
    assert errors["error"].str.contains("with the channel axis last it would match").all()
    assert not (root.parent / "out" / "manifest.csv").exists()


def test_empty_report_text_is_named(rex_tree, tmp_path) -> None:
    root = rex_tree()
    pd.DataFrame(
        {
            "VolumeName": ["train_1_a_1.nii.gz", "train_2_a_1.nii.gz"],
            "Findings_EN": ["Nodule.", " "],
        }
    ).to_csv(tmp_path / "reports.csv", index=False)
    result = _adapt(root, reports_csvs=[tmp_path / "reports.csv"])
    errors = result.errors.set_index("scan_id")
    assert set(errors.index) == {"train_1_a_2", "train_2_a_1", "valid_5_a_1", "valid_6_b_2"}
    assert "train_2_a_1.nii.gz: empty or missing report text" in errors.loc["train_2_a_1", "error"]
    assert errors.loc["train_2_a_1", "file"] == str(tmp_path / "reports.csv")
    assert list(result.manifest["scan_id"]) == ["train_1_a_1"]


def test_duplicate_and_unknown_split_are_recorded(rex_tree) -> None:
    root = rex_tree()
    _edit_json(root, lambda d: d.update(validation=[], test=d["test"] + [d["train"][0]]))
    result = _adapt(root)
    errors = list(result.errors["error"])
    assert any(e.startswith('["validation"]: unknown split') for e in errors)
    assert any('["test"][1]["name"]: scan listed twice (also at ["train"][0])' in e for e in errors)


def test_not_json_is_refused(rex_tree) -> None:
    root = rex_tree()
    (root / "dataset.json").write_text('{"train": [')
    with pytest.raises(ValueError, match="dataset.json: not valid JSON"):
        _adapt(root)


def test_category_catalogue() -> None:
    assert [c.code for c in CATEGORIES] == [f"1{x}" for x in "abcdef"] + [
        f"2{x}" for x in "abcdefgh"
    ]
    assert len(set(CATEGORY_COLUMNS)) == 14 and all(c.startswith("rex_") for c in CATEGORY_COLUMNS)
    assert category_by_code(" 2D ").name == "Nodules / masses"
    with pytest.raises(KeyError, match="unknown ReXGroundingCT category code"):
        category_by_code("3a")


def test_threads_give_the_same_tables(rex_tree) -> None:
    root = rex_tree()
    one = _adapt(root)
    two = adapt_rexgroundingct(root, root.parent / "out2" / "manifest.csv", workers=2)
    pd.testing.assert_frame_equal(one.findings, two.findings)
    pd.testing.assert_frame_equal(one.manifest, two.manifest)
