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
