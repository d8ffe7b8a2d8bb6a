import pytest
import torch
from report_helpers import tiny_decoder, visual_tokens

from hyperct.models.report.decoder import TransformerDecoderConfig, sinusoidal_positions
from hyperct.models.report.tokenizer import ReportTokenizer


def test_logits_shape_and_scalar_loss(
    report_tokenizer: ReportTokenizer, short_reports: list[str]
) -> None:
    decoder = tiny_decoder(report_tokenizer.vocab_size)
    batch = report_tokenizer.encode(short_reports, max_len=64)
    logits = decoder(visual_tokens(4), batch.ids, batch.mask)
    assert logits.shape == (*batch.ids.shape, report_tokenizer.vocab_size)
    loss = decoder.loss(visual_tokens(4), batch.ids, batch.mask)
    assert loss.ndim == 0 and torch.isfinite(loss)
    # random init predicts close to uniform
    assert abs(loss.item() - torch.log(torch.tensor(report_tokenizer.vocab_size)).item()) < 1.0


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_changing_a_future_token_leaves_earlier_logits(
    report_tokenizer: ReportTokenizer, positions: str
) -> None:
    decoder = tiny_decoder(report_tokenizer.vocab_size, positions=positions).eval()
    batch = report_tokenizer.encode(["the heart is normal in size and no effusion."], max_len=64)
    changed = batch.ids.clone()
    changed[0, 6] = (changed[0, 6] + 7) % report_tokenizer.vocab_size
    visual = visual_tokens(1)
    a, b = decoder(visual, batch.ids, batch.mask), decoder(visual, changed, batch.mask)
    torch.testing.assert_close(a[0, :6], b[0, :6])
    assert not torch.allclose(a[0, 6:], b[0, 6:])


def test_padding_in_a_batch_leaves_a_reports_loss(
    report_tokenizer: ReportTokenizer, short_reports: list[str]
) -> None:
    decoder = tiny_decoder(report_tokenizer.vocab_size).eval()
    short, long = min(short_reports, key=len), max(short_reports, key=len)
    visual = visual_tokens(2)
    alone = report_tokenizer.encode([short], max_len=64)
    padded = report_tokenizer.encode([short, long], max_len=64)
    assert padded.ids.shape[1] > alone.ids.shape[1]
    loss_alone = decoder.loss(visual[:1], alone.ids, alone.mask)
    loss_padded = decoder.loss(visual[:1], padded.ids[:1], padded.mask[:1])
    torch.testing.assert_close(loss_alone, loss_padded)
    garbage = padded.ids[:1].masked_fill(~padded.mask[:1], 5)
    torch.testing.assert_close(decoder.loss(visual[:1], garbage, padded.mask[:1]), loss_alone)


@pytest.mark.parametrize("condition_tokens", [0, 2])
def test_cached_steps_equal_the_full_forward(
    report_tokenizer: ReportTokenizer, condition_tokens: int
) -> None:
    decoder = tiny_decoder(report_tokenizer.vocab_size, condition_tokens=condition_tokens).eval()
    batch = report_tokenizer.encode(["no pleural effusion.", "the trachea is open."], max_len=64)
    visual = visual_tokens(2)
    full = decoder(visual, batch.ids, batch.mask)
    state = decoder.start(visual)
    for t in range(batch.ids.shape[1]):
        logits, state = decoder.step(batch.ids[:, t], state)
        valid = batch.mask[:, t]
        torch.testing.assert_close(logits[valid], full[valid, t], atol=1e-5, rtol=1e-4)


def test_condition_tokens_reach_every_position_without_cross_attention(
    report_tokenizer: ReportTokenizer,
) -> None:
    decoder = tiny_decoder(report_tokenizer.vocab_size, condition_tokens=2).eval()
    batch = report_tokenizer.encode(["no effusion."], max_len=16)
    with torch.no_grad():  # cut cross-attention: only the direct path can carry the memory
        for block in decoder.blocks:
            block.cross_attn.out.weight.zero_()
            block.cross_attn.out.bias.zero_()
    visual = visual_tokens(1, tokens=5)
    changed = visual.clone()
    changed[:, -1] += 1.0
    first = visual.clone()
    first[:, 0] += 1.0
    logits = decoder(visual, batch.ids, batch.mask)
    assert not torch.allclose(decoder(changed, batch.ids, batch.mask)[0, 0], logits[0, 0])
    torch.testing.assert_close(decoder(first, batch.ids, batch.mask), logits)


def test_selecting_rows_of_a_state_keeps_their_condition(report_tokenizer: ReportTokenizer) -> None:
    decoder = tiny_decoder(report_tokenizer.vocab_size, condition_tokens=2).eval()
    visual = visual_tokens(3)
    token = torch.full((1,), report_tokenizer.bos_id)
    picked = decoder.select(decoder.start(visual), torch.tensor([2]))
    alone = decoder.start(visual[2:])
    torch.testing.assert_close(decoder.step(token, picked)[0], decoder.step(token, alone)[0])


def test_memory_shorter_than_the_condition_is_a_clear_error(
    report_tokenizer: ReportTokenizer,
) -> None:
    decoder = tiny_decoder(report_tokenizer.vocab_size, condition_tokens=6)
    with pytest.raises(ValueError, match="fewer than condition_tokens 6"):
        decoder.start(visual_tokens(1, tokens=5))


def test_visual_tokens_change_the_logits(report_tokenizer: ReportTokenizer) -> None:
    decoder = tiny_decoder(report_tokenizer.vocab_size).eval()
    batch = report_tokenizer.encode(["no effusion."], max_len=16)
    a = decoder(visual_tokens(1, seed=1), batch.ids, batch.mask)
    b = decoder(visual_tokens(1, seed=2), batch.ids, batch.mask)
    assert not torch.allclose(a, b)


def test_output_layer_is_the_token_embedding(report_tokenizer: ReportTokenizer) -> None:
    decoder = tiny_decoder(report_tokenizer.vocab_size).eval()
    batch = report_tokenizer.encode(["no effusion."], max_len=16)
    visual = visual_tokens(1)
    before = decoder(visual, batch.ids, batch.mask)
    with torch.no_grad():
        # the eos row: only its logit column may change (rows of the sequence are not eos)
        decoder.embed.weight[batch.ids[0, -1]] += torch.randn(decoder.config.width)
    after = decoder(visual, batch.ids, batch.mask)
    changed = (before[0, :-1] - after[0, :-1]).abs().amax(dim=0) > 1e-6
    assert changed[batch.ids[0, -1]] and changed.sum() == 1


def test_too_long_input_is_a_clear_error(report_tokenizer: ReportTokenizer) -> None:
    decoder = tiny_decoder(report_tokenizer.vocab_size, max_len=8)
    ids = torch.full((1, 9), report_tokenizer.bos_id)
    with pytest.raises(ValueError, match="max_len 8"):
        decoder(visual_tokens(1), ids, torch.ones_like(ids, dtype=torch.bool))


def test_sinusoidal_positions_are_distinct_and_bounded() -> None:
    codes = sinusoidal_positions(64, 32)
    assert codes.shape == (64, 32) and codes.abs().max() <= 1.0
    assert torch.cdist(codes, codes).fill_diagonal_(1.0).min() > 0.1


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="divisible"):
        TransformerDecoderConfig(vocab_size=10, visual_dim=4, width=30, heads=4)
    with pytest.raises(ValueError, match="positions"):
        TransformerDecoderConfig(vocab_size=10, visual_dim=4, positions="rotary")  # type: ignore
    with pytest.raises(ValueError, match="condition_tokens"):
        TransformerDecoderConfig(vocab_size=10, visual_dim=4, condition_tokens=-1)
