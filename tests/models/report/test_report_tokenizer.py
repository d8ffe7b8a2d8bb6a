import json
import random
from pathlib import Path

import pytest
import torch

from hyperct.models.report.tokenizer import (
    ReportTextError,
    ReportTokenizer,
    TokenizerConfig,
)


def test_round_trip_on_real_reports(
    report_tokenizer: ReportTokenizer, ctrate_reports: list[str]
) -> None:
    sample = random.Random(0).sample(ctrate_reports, 200)
    batch = report_tokenizer.encode(sample, max_len=4096)
    assert batch.ids.shape == batch.mask.shape
    assert report_tokenizer.decode(batch.ids) == [report_tokenizer.normalise(r) for r in sample]
    assert not (batch.ids[batch.mask] == report_tokenizer.unk_id).any()


def test_normalisation_lowercases_and_collapses_whitespace(
    report_tokenizer: ReportTokenizer,
) -> None:
    assert report_tokenizer.normalise("  No  Pleural\n\tEffusion. ") == "no pleural effusion."
    cased = ReportTokenizer.train(
        ["No Pleural Effusion."] * 3, TokenizerConfig(vocab_size=300, lowercase=False)
    )
    assert cased.normalise("No  Effusion") == "No Effusion"


def test_vocabulary_is_small_and_keeps_radiology_words_whole(
    report_tokenizer: ReportTokenizer,
) -> None:
    assert report_tokenizer.vocab_size == 2000
    for word in ("effusion", "bronchi", "mediastinal", "nodule"):
        assert len(report_tokenizer.backend.encode(f"the {word}").ids) == 2, word


def test_encode_frames_pads_and_truncates(report_tokenizer: ReportTokenizer) -> None:
    tok = report_tokenizer
    batch = tok.encode(
        ["no effusion.", "trachea, both main bronchi are open and the heart is normal."], max_len=8
    )
    assert batch.ids.shape == (2, 8)
    assert (batch.ids[:, 0] == tok.bos_id).all()
    short_len = int(batch.mask[0].sum())
    assert batch.ids[0, short_len - 1] == tok.eos_id
    assert (batch.ids[0, short_len:] == tok.pad_id).all() and not batch.mask[0, short_len:].any()
    assert batch.mask[1].all() and tok.eos_id not in batch.ids[1].tolist()


def test_decode_stops_at_eos_and_strips_specials(report_tokenizer: ReportTokenizer) -> None:
    tok = report_tokenizer
    body = tok.backend.encode("no effusion.").ids
    tail = tok.backend.encode(" garbage").ids
    rows = [
        [tok.bos_id, *body, tok.eos_id, *tail],
        [tok.bos_id, *body, *[tok.pad_id] * (1 + len(tail))],
    ]
    assert tok.decode(rows) == ["no effusion.", "no effusion."]
    assert tok.decode(torch.tensor(rows)) == ["no effusion.", "no effusion."]


def test_state_round_trip_gives_identical_ids(
    report_tokenizer: ReportTokenizer, ctrate_reports: list[str]
) -> None:
    state = report_tokenizer.to_state()
    assert all(isinstance(v, str) for v in state.values())
    again = ReportTokenizer.from_state(state)
    a = report_tokenizer.encode(ctrate_reports[:50], max_len=512)
    b = again.encode(ctrate_reports[:50], max_len=512)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.mask, b.mask)
    assert (again.pad_id, again.bos_id, again.eos_id) == (
        report_tokenizer.pad_id,
        report_tokenizer.bos_id,
        report_tokenizer.eos_id,
    )


def test_state_survives_a_weights_only_checkpoint(
    report_tokenizer: ReportTokenizer, tmp_path: Path
) -> None:
    path = tmp_path / "ckpt.pt"
    torch.save({"extra": {"tokenizer": report_tokenizer.to_state()}}, path)
    loaded = torch.load(path, weights_only=True)
    again = ReportTokenizer.from_state(loaded["extra"]["tokenizer"])
    assert (
        again.encode(["no effusion."], 16).ids.tolist()
        == report_tokenizer.encode(["no effusion."], 16).ids.tolist()
    )


def test_save_and_load_one_json_file(report_tokenizer: ReportTokenizer, tmp_path: Path) -> None:
    path = report_tokenizer.save(tmp_path / "run" / "tokenizer.json")
    assert [p.name for p in path.parent.iterdir()] == ["tokenizer.json"]
    assert json.loads(path.read_text())["format"].startswith("hyperct-report-tokenizer")
    again = ReportTokenizer.load(path)
    assert (
        again.encode(["pleural effusion"], 16).ids.tolist()
        == report_tokenizer.encode(["pleural effusion"], 16).ids.tolist()
    )


def test_load_names_the_file_when_damaged(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="tokenizer.json.*format"):
        ReportTokenizer.load(path)


def test_empty_report_is_named_by_position(report_tokenizer: ReportTokenizer) -> None:
    with pytest.raises(ReportTextError, match="report 1 is empty"):
        report_tokenizer.encode(["no effusion.", "  \n "], max_len=8)
    with pytest.raises(ReportTextError, match="report 2 is empty"):
        ReportTokenizer.train(["a b", "c d", ""])


def test_config_rejects_a_vocabulary_below_the_byte_alphabet() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        TokenizerConfig(vocab_size=100)
