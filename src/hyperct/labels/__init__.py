"""Label curation: report labelers (rules, LLM, learned) and echo matching + thresholds.

Labels follow the task contract of :mod:`hyperct.tasks`: one column per task, named by
``Task.name``, holding 1 (present), 0 (absent) or -1 (not available).
"""
