"""Anatomy as free supervision: TotalSegmentator label ids, mask mapping, auxiliary heads and losses.

Submodules import torch only where they need it; :mod:`hyperct.anatomy.totalseg` imports nothing
heavy.
"""
