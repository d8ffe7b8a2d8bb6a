"""Auxiliary segmentation head: output on the label grid, 2.5D token variant."""

import pytest
import torch

from hyperct.anatomy.heads import AuxSegHead, token_seg_logits


def test_3d_head_output_matches_label_grid() -> None:
    head = AuxSegHead(16, 7, spatial_dims=3)
    out = head(torch.randn(2, 16, 2, 3, 4), (32, 24, 20))
    assert out.shape == (2, 7, 32, 24, 20)


def test_2d_head_on_patch_tokens_predicts_each_triplet_middle_slice() -> None:
    head = AuxSegHead(12, 7, spatial_dims=2)
    tokens = torch.randn(2, 5, 4, 4, 12)
    out = token_seg_logits(head, tokens, (32, 32))
    assert out.shape == (2, 5, 7, 32, 32)
    # image j of sample b depends only on its own tokens
    tokens2 = tokens.clone()
    tokens2[1, 3] += 1.0
    out2 = token_seg_logits(head, tokens2, (32, 32))
    assert torch.equal(out[0], out2[0]) and torch.equal(out[1, :3], out2[1, :3])
    assert not torch.equal(out[1, 3], out2[1, 3])


def test_head_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match="expects"):
        AuxSegHead(4, 3, spatial_dims=3)(torch.randn(1, 4, 2, 2), (8, 8, 8))
    with pytest.raises(ValueError, match="num_classes"):
        AuxSegHead(4, 1)
