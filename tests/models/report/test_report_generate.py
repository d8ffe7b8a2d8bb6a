import pytest
import torch
from report_helpers import tiny_decoder, visual_tokens

from hyperct.models.report.base import ReportDecoder
from hyperct.models.report.decoder import TransformerReportDecoder
from hyperct.models.report.generate import GenerationConfig, beam_search, generate, greedy
from hyperct.models.report.tokenizer import ReportTokenizer


@pytest.fixture(scope="module")
def overfit(
    report_tokenizer: ReportTokenizer, short_reports: list[str]
) -> tuple[TransformerReportDecoder, torch.Tensor, list[float]]:
    """A tiny decoder trained for 100 steps on four (visual tokens, report) pairs."""
    decoder = tiny_decoder(report_tokenizer.vocab_size)
    visual = visual_tokens(len(short_reports))
    batch = report_tokenizer.encode(short_reports, max_len=64)
    optimiser = torch.optim.AdamW(decoder.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        loss = decoder.loss(visual, batch.ids, batch.mask)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return decoder.eval(), visual, losses


def test_overfitting_lowers_the_loss(overfit: tuple) -> None:
    _, _, losses = overfit
    assert losses[-1] < 0.05 * losses[0]


def test_greedy_reproduces_the_overfitted_reports(
    overfit: tuple, report_tokenizer: ReportTokenizer, short_reports: list[str]
) -> None:
    decoder, visual, _ = overfit
    texts = generate(decoder, visual, report_tokenizer, GenerationConfig(max_tokens=64))
    assert texts == [report_tokenizer.normalise(r) for r in short_reports]
    assert len(set(texts)) == len(short_reports)  # distinct visual tokens, distinct reports


def test_beam_search_finds_the_overfitted_reports(
    overfit: tuple, report_tokenizer: ReportTokenizer, short_reports: list[str]
) -> None:
    decoder, visual, _ = overfit
    config = GenerationConfig(max_tokens=64, beam_width=3)
    texts = generate(decoder, visual, report_tokenizer, config)
    assert texts == [report_tokenizer.normalise(r) for r in short_reports]


@pytest.mark.parametrize("seed", [0, 1])
def test_beam_width_one_is_greedy(report_tokenizer: ReportTokenizer, seed: int) -> None:
    torch.manual_seed(seed)
    decoder = tiny_decoder(report_tokenizer.vocab_size).eval()
    visual = visual_tokens(3, seed=seed)
    tok = report_tokenizer
    expected = greedy(decoder, visual, tok.bos_id, tok.eos_id, max_tokens=20)
    for penalty in (0.0, 1.0, 2.0):
        config = GenerationConfig(max_tokens=20, beam_width=1, length_penalty=penalty)
        assert beam_search(decoder, visual, tok.bos_id, tok.eos_id, config) == expected


def test_generation_respects_the_length_limit(report_tokenizer: ReportTokenizer) -> None:
    decoder = tiny_decoder(report_tokenizer.vocab_size, max_len=12).eval()
    with torch.no_grad():  # eos never wins: every report runs to the limit
        decoder.embed.weight[report_tokenizer.eos_id] = -10.0 * decoder.embed.weight.abs().max()
    visual = visual_tokens(2)
    tok = report_tokenizer
    assert [len(r) for r in greedy(decoder, visual, tok.bos_id, tok.eos_id, max_tokens=5)] == [5, 5]
    beams = beam_search(decoder, visual, tok.bos_id, tok.eos_id, GenerationConfig(5, beam_width=2))
    assert [len(r) for r in beams] == [5, 5]
    capped = greedy(decoder, visual, tok.bos_id, tok.eos_id, max_tokens=100)
    assert [len(r) for r in capped] == [12, 12]  # the decoder's own max_len bounds it


def test_stopping_at_eos_gives_no_specials(
    overfit: tuple, report_tokenizer: ReportTokenizer
) -> None:
    decoder, visual, _ = overfit
    tok = report_tokenizer
    for ids in greedy(decoder, visual, tok.bos_id, tok.eos_id, max_tokens=64):
        assert not {tok.bos_id, tok.eos_id, tok.pad_id} & set(ids)


BOS, EOS, A, B, C = 1, 2, 3, 4, 5


class _TableDecoder(ReportDecoder):
    """A bigram model with a fixed table: greedy takes A (0.6) then C (0.4), total 0.24; the
    best report is B (0.4) then eos (1.0), total 0.4, shorter by one token."""

    max_len = 16

    def __init__(self) -> None:
        super().__init__()
        table = torch.full((6, 6), 1e-9)
        table[BOS, A], table[BOS, B] = 0.6, 0.4
        table[A, C], table[A, EOS], table[A, B] = 0.4, 0.3, 0.3
        table[B, EOS] = table[C, EOS] = 1.0
        table[EOS, EOS] = 1.0
        self.register_buffer("log_table", table.log())

    def forward(self, visual: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.log_table[ids]

    def start(self, visual: torch.Tensor) -> None:
        return None

    def step(self, tokens: torch.Tensor, state: None) -> tuple[torch.Tensor, None]:
        return self.log_table[tokens], None

    def select(self, state: None, rows: torch.Tensor) -> None:
        return None


def test_beam_search_finds_the_likelier_report_greedy_misses() -> None:
    decoder, visual = _TableDecoder(), torch.zeros(2, 1, 1)
    assert greedy(decoder, visual, BOS, EOS, max_tokens=8) == [[A, C]] * 2
    config = GenerationConfig(max_tokens=8, beam_width=2, length_penalty=0.0)
    assert beam_search(decoder, visual, BOS, EOS, config) == [[B]] * 2


def test_length_penalty_favours_longer_reports() -> None:
    decoder, visual = _TableDecoder(), torch.zeros(1, 1, 1)
    # log 0.4 / 2**2 = -0.229 < log 0.24 / 3**2 = -0.159 (lengths count eos)
    config = GenerationConfig(max_tokens=8, beam_width=2, length_penalty=2.0)
    assert beam_search(decoder, visual, BOS, EOS, config) == [[A, C]]
