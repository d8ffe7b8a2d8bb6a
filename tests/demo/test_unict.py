import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from hyperct.demo.unict import UniCTExample, _largest_finding, example_section, report_manifest
from hyperct.evaluation.plots import save_png


def test_report_manifest_keeps_the_folder_and_adds_each_scans_report(tmp_path):
    manifest = tmp_path / "phantom" / "manifest.csv"
    manifest.parent.mkdir()
    pd.DataFrame({"scan_id": ["a", "b", "c"], "path": ["ct/a.nii.gz"] * 3}).to_csv(manifest, index=False)
    reports = tmp_path / "phantom" / "reports.csv"
    pd.DataFrame({"AccessionNo": ["c", "a"], "report_text": ["Effusion.", "No nodule."]}).to_csv(
        reports, index=False)
    out = report_manifest(manifest, reports)
    assert out.parent == manifest.parent
    table = pd.read_csv(out)
    assert table["report_text"].tolist()[0] == "No nodule." and table["report_text"].tolist()[2] == "Effusion."
    assert table["report_text"].isna().tolist() == [False, True, False]


class _Scans:
    """A dataset stand-in: items with finding masks of given sizes per channel."""

    def __init__(self, sizes: list[list[int] | None]) -> None:
        self.items = []
        for i, channel_sizes in enumerate(sizes):
            mask = torch.zeros(3, 4, 10, 10, dtype=torch.uint8)
            for c, n in enumerate(channel_sizes or []):
                mask[c].view(-1)[:n] = 1
            self.items.append({"scan_id": f"s{i}", "findings_mask": mask,
                               "has_findings_mask": torch.tensor(channel_sizes is not None)})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def test_largest_finding_is_chosen_from_the_reference_only():
    assert _largest_finding(_Scans([[5, 0, 2], None, [0, 9, 1], [3, 3, 3]])) == (2, 1)
    with pytest.raises(RuntimeError, match="no test scan"):
        _largest_finding(_Scans([None, [0, 0, 0]]))


def test_example_section_shows_both_reports_escaped_and_the_overlay(tmp_path):
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((4, 4)))
    png = save_png(fig, tmp_path / "mask.png")
    example = UniCTExample(tmp_path, "int00007", "2d Nodules / masses", "Nodule <5 mm>.",
                           "Nodule in the right lung & effusion.", png)
    body = example_section(example).body
    assert "Nodule &lt;5 mm&gt;." in body and "effusion" in body and "&amp;" in body
    assert body.count("data:image/png;base64,") == 1 and "2d Nodules / masses" in body
    assert "predicted mask is empty" in body
    both = example_section(dataclasses.replace(example, predicted_png=png)).body
    assert both.count("data:image/png;base64,") == 2 and "predicted mask is empty" not in both
    assert "slice where the predicted mask is largest" in both


@pytest.mark.slow
def test_unict_step_trains_and_shows_a_test_scan(tmp_path):
    from hyperct.data.prepare import prepare_cache
    from hyperct.demo.unict import SPEC, predict_example, train_unict
    from hyperct.phantom import PhantomConfig, generate_cohort

    cohort = generate_cohort(PhantomConfig(n=40, seed=3, preset="tiny"), tmp_path / "phantom")
    manifest = report_manifest(cohort.manifest, cohort.reports)
    assert prepare_cache(manifest, SPEC, tmp_path / "cache3d", progress=False).ok
    run = train_unict(manifest, tmp_path / "cache3d", tmp_path / "run", seed=0, overrides=[
        "optim.epochs=1", "unict.decoder={width: 16, layers: 1, heads: 2, max_len: 24}"])
    example = predict_example(run, manifest, tmp_path / "cache3d", tmp_path / "example")
    table = pd.read_csv(manifest).set_index("scan_id")
    assert table.loc[example.scan_id, "split"] == "test"
    assert example.reference == table.loc[example.scan_id, "report_text"]
    for png in (example.overlay_png, example.predicted_png):
        assert png is None or png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert isinstance(example.generated, str)
