"""`--method report3d` end to end on the tiny synthetic cohort with a report per scan."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cohort_helpers import report_manifest, straight_and_resumed

from hyperct.labels.io import read_csv_text
from hyperct.models.interface import Capability
from hyperct.models.report.tokenizer import ReportTokenizer, TokenizerConfig
from hyperct.training import load_config, train
from hyperct.training.report_setup import NoReportTextError, training_reports

TINY_REPORT = ["report.encoder=resnet10_3d", "report.encoder_kwargs={width: 4}",
               "report.token_grid=[1, 2, 2]", "report.vocab_size=300", "report.layers=1",
               "report.width=32", "report.heads=2", "report.max_len=24", "report.dropout=0.1"]


@pytest.fixture
def report_overrides(tiny_overrides: list[str], cohort: dict, cache3d: str, tmp_path: Path) -> list[str]:
    manifest = report_manifest(cohort, tmp_path / "data", empty=(1, 3))
    return [*tiny_overrides, "method=report3d", f"data.manifest={manifest}",
            f"data.cache3d={cache3d}", "optim.lr=3e-3", *TINY_REPORT]


def test_report_run_writes_reports_and_selects_by_val_loss(report_overrides: list[str]) -> None:
    cfg = load_config(None, report_overrides)
    result = train(cfg)
    run = Path(cfg.output_dir)
    for name in ("config.yaml", "best.pt", "last.pt", "history.csv", "run.json", "reports.csv"):
        assert (run / name).is_file(), name
    assert not (run / "predictions.csv").exists()  # no tasks: nothing to classify
    history = pd.read_csv(run / "history.csv")
    losses = history["val_loss"].tolist()
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert result.best_epoch == 1 + int(np.argmin(losses))
    reports = read_csv_text(run / "reports.csv")
    assert list(reports.columns) == ["scan_id", "report"]
    manifest = pd.read_csv(cfg.data.manifest)
    assert sorted(reports["scan_id"]) == sorted(manifest.loc[manifest["split"] != "train", "scan_id"])
    assert reports["report"].map(lambda t: isinstance(t, str)).all()


def test_guidance_is_a_switch_and_trains_on_the_labels(report_overrides: list[str]) -> None:
    from hyperct.inference.checkpoint import load_checkpoint
    from hyperct.models.build import build_model
    from hyperct.tasks import CONVENTIONAL

    tokenizer = {"tokenizer": ReportTokenizer.train(["No effusion."] * 4,
                                                    TokenizerConfig(vocab_size=300)).to_state()}
    plain = build_model(load_config(None, [*report_overrides, "report.guidance=false"]), tokenizer)
    assert plain.report.guidance is None  # type: ignore[union-attr]
    cfg = load_config(None, [*report_overrides, "optim.epochs=1"])
    train(cfg)
    state = load_checkpoint(Path(cfg.output_dir) / "best.pt").model
    known = state["report.guidance.known"]
    assert known.shape == (len(CONVENTIONAL),) and known.sum() > 0


def test_generation_needs_best_pt_alone(report_overrides: list[str], tmp_path: Path, cohort: dict) -> None:
    from hyperct.inference.scans import report_scans

    cfg = load_config(None, [*report_overrides, "optim.epochs=1", "report.decoding=beam",
                             "report.beam_width=2"])
    train(cfg)
    run = Path(cfg.output_dir)
    alone = tmp_path / "alone"
    alone.mkdir()
    (run / "best.pt").rename(alone / "best.pt")
    written = read_csv_text(run / "reports.csv").set_index("scan_id")["report"]
    for item in run.iterdir():  # nothing of the run folder but best.pt is left anywhere
        if item.is_file():
            item.unlink()
    scan = Path(cohort["root"]) / "scan12.nii.gz"
    reports = report_scans(paths=[scan], checkpoint=alone, device="cpu")
    assert list(reports.columns) == ["report"]
    assert reports.loc[str(scan), "report"] == written["s12"]


def test_resume_matches_an_unbroken_run(report_overrides: list[str], tmp_path: Path) -> None:
    ha, hb = straight_and_resumed(report_overrides, tmp_path)
    assert ha["train_loss"].tolist() == hb["train_loss"].tolist()
    assert ha["val_loss"].tolist() == hb["val_loss"].tolist()


def test_a_cohort_without_report_text_is_refused_before_training(
    report_overrides: list[str], cohort: dict, tmp_path: Path
) -> None:
    manifest = report_manifest(cohort, tmp_path / "none", empty=tuple(range(24)))
    cfg = load_config(None, [*report_overrides, f"data.manifest={manifest}"])
    with pytest.raises(NoReportTextError, match="report_text"):
        train(cfg)
    assert not Path(cfg.output_dir).exists()
    without = pd.read_csv(manifest).drop(columns="report_text")
    with pytest.raises(NoReportTextError, match="no 'report_text' column"):
        training_reports(without, None, "m.csv")


def test_rows_without_report_text_contribute_no_loss() -> None:
    from hyperct.training.objectives import ReportObjective

    class Recorder(torch.nn.Module):
        """Records what the objective asks it to score."""

        capabilities = frozenset({Capability.REPORT_GENERATION})

        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))
            self.seen: list[tuple[int, list[str]]] = []

        def report_loss(self, images: torch.Tensor, reports: list[str], *,
                        labels: torch.Tensor | None = None) -> torch.Tensor:
            self.seen.append((images.shape[0], list(reports)))
            self.labels = labels
            return self.w * images.sum() / images.shape[0]

    model = Recorder()
    images = torch.stack([torch.full((1, 2, 2, 2), float(i)) for i in range(3)])
    labels = torch.tensor([[1, 0], [0, -1], [-1, 1]])
    logs = ReportObjective([]).backward(
        model, {"image": images, "report_text": ["a", "", "c"], "labels": labels}, 1.0)
    assert model.seen == [(2, ["a", "c"])]
    assert torch.equal(model.labels, labels[[0, 2]])  # the labels go with their reports
    assert logs["samples"] == 2.0 and logs["loss"] == pytest.approx((0 + 2) * 8 / 2)
    none = ReportObjective([]).backward(model, {"image": images, "report_text": ["", "", ""]}, 1.0)
    assert np.isnan(none["loss"]) and none["samples"] == 0.0
