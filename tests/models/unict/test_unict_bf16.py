"""A few bf16 (CPU autocast) training steps of a tiny UniCT with every supervision on keep the
losses and every gradient finite, on a volume whose last feature map is two slices deep (where
oneDNN's bf16 conv3d backward gave NaN: see :mod:`hyperct.models.conv3d`)."""

import torch
from unict_helpers import REPORTS, tiny_config

from hyperct.models.unict import UniCT, UniCTTargets, total_loss


def test_bf16_training_steps_give_finite_losses_and_gradients(tokenizer):
    torch.manual_seed(0)
    config = tiny_config(backbone3d_kwargs={"width": 4, "stem_stride": [1, 1, 1]})
    model = UniCT(config, tokenizer=tokenizer).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images = torch.randn(2, 1, 32, 32, 32)  # stride 16: a 2 x 2 x 2 feature map
    reports = model.encode_reports(REPORTS[:2])
    labels = torch.tensor([[1, 0, -1], [0, 1, 1]])
    masks = torch.zeros(2, 2, 32, 32, 32)
    masks[0, 0, 8:20, 4:20, 4:20] = 1
    masks[1, 1, 12:16, 12:16, 8:12] = 1
    targets = UniCTTargets(labels, masks, torch.tensor([True, True]), reports)
    for step in range(4):
        junk = torch.full((1 << 20,), float("nan"))  # freed memory holding NaN, as in training
        del junk
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output = model(images, reports=reports)
        assert output.seg_logits.shape[2:] == (32, 32, 32)
        losses = model.losses(output, targets)
        assert set(losses) == {"classification", "segmentation", "report"}
        assert all(torch.isfinite(loss) for loss in losses.values()), (step, losses)
        optimizer.zero_grad()
        total_loss(losses, config).backward()
        bad = [name for name, p in model.named_parameters()
               if p.grad is not None and not torch.isfinite(p.grad).all()]
        assert not bad, f"step {step}: non-finite gradients in {bad}"
        optimizer.step()
