"""Inference: load a trained run and predict, without importing training.

* ``checkpoint`` - the checkpoint file (trainable weights, config, spec, backbone identity).
* ``device`` - device choice and bf16 autocast; ``rng`` - seeding and RNG state capture.
* ``batch`` - all-task logits of a batch and per-scan probabilities over a loader.
* ``predict`` - :func:`load_trained_model`, :func:`predict_manifest` (scans of a prepared cache).
* ``scans`` - :func:`predict_scans` for raw CT files, preprocessed with the checkpoint's spec.
* ``predictions`` - the predictions table contract (one row per scan x task) evaluation reads.
* ``parts`` - one predictions table from the parts of a sharded prediction.
* ``distributed`` - the ``torchrun`` process group (rank, gathering) of training and prediction.

Training and the future HTTP service build on these; ``training`` imports ``inference``, never
the reverse.
"""
