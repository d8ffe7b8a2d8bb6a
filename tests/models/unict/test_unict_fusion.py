import torch

from hyperct.models.unict.fusion import NoFusion, TaskFusion


def test_fusion_returns_one_attention_row_per_task_summing_to_one():
    torch.manual_seed(0)
    fusion = TaskFusion(dim=16, heads=4, tasks=3, dropout=0.0).eval()
    latents = [torch.randn(2, n, 16) for n in (2, 5, 3)]
    fused, attention = fusion(latents)
    assert [x.shape for x in fused] == [x.shape for x in latents]
    assert attention.shape == (2, 4, 3, 3)
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, 4, 3))


def test_each_task_reads_the_others_through_fusion_only():
    torch.manual_seed(0)
    fusion = TaskFusion(dim=16, heads=2, tasks=2, dropout=0.0).eval()
    cls, seg = torch.randn(1, 2, 16), torch.randn(1, 4, 16)
    other_seg = torch.randn(1, 4, 16)
    assert not torch.allclose(fusion([cls, seg])[0][0], fusion([cls, other_seg])[0][0])
    off = NoFusion()
    (out_cls, out_seg), attention = off([cls, seg])
    assert out_cls is cls and out_seg is seg and attention is None
