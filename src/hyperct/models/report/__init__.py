"""Report generation parts: tokenizer, decoders conditioned on visual tokens, decoding.

A report model is any visual encoder yielding tokens ``(B, N, D)`` plus a
:class:`~hyperct.models.report.base.ReportDecoder`. Modules: ``tokenizer`` (byte-level BPE that
travels in the checkpoint), ``base`` (the decoder interface and its training loss), ``decoder``
(small Transformer trained from scratch, the default), ``lm`` (a pretrained causal LM with visual
prefix, extra ``hyperct[lm]``), ``generate`` (greedy and beam search), ``guidance`` (finding
prompts from a classification head), ``model`` (encoder + decoder + tokenizer). Import from
the submodules; this package imports nothing itself.
"""
