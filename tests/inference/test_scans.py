"""Predicting raw CT files: the input-QC flags of each scan are in the prediction's output."""

import logging

from hyperct.inference.scans import predict_scans
from hyperct.tasks import TASK_NAMES


def test_a_contrast_enhanced_scan_is_flagged_in_the_output(trained_run, real_ct, caplog):
    enhanced, plain = real_ct / "ts_chest_crop.nii.gz", real_ct / "ts_example_ct_sm.nii.gz"
    with caplog.at_level(logging.WARNING, logger="hyperct.inference.scans"):
        probs = predict_scans(paths=[enhanced, plain], checkpoint=trained_run, device="cpu")
    assert list(probs.columns) == list(TASK_NAMES) and len(probs) == 2
    flagged = [r.getMessage() for r in caplog.records if "QC" in r.getMessage()]
    assert len(flagged) == 1 and str(enhanced) in flagged[0] and "contrast-enhanced" in flagged[0]


def test_segment_inputs_batches_same_shapes_and_keeps_each_scan_its_own(make_unict_run, tmp_path):
    import numpy as np
    import torch

    from hyperct.inference.scan_outputs import segment_batch
    from hyperct.inference.scans import load_predictor, segment_inputs

    model, _, _ = load_predictor(make_unict_run(tmp_path / "unict"), "cpu")
    gen = torch.Generator().manual_seed(0)
    shapes = [(1, 1, 16, 32, 32), (1, 1, 8, 32, 32), (1, 1, 16, 32, 32)]
    inputs = [{"image": torch.randn(*shape, generator=gen)} for shape in shapes]
    together = segment_inputs(model, inputs)
    for i, (item, scans) in enumerate(zip(inputs, together)):
        alone = segment_batch(model, item, ["x"], bf16=False)
        assert scans.scan_ids == [str(i)] and scans.masks.shape == alone.masks.shape
        assert scans.masks.shape[2] == shapes[i][2]
        np.testing.assert_allclose(scans.probs, alone.probs, atol=1e-5)
        np.testing.assert_array_equal(scans.masks, alone.masks)
        assert scans.reports == alone.reports and len(scans.reports) == 1
