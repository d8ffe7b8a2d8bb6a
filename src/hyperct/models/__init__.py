"""Models: frozen backbones, LoRA layers, the HyperCT hypernetwork model and multi-task baselines.

Import from the submodules (``hyperct.models.hyperct``, ``hyperct.models.multitask``,
``hyperct.models.backbones``); this package imports nothing heavy itself.
"""
