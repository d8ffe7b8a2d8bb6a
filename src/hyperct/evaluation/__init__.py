"""Evaluation from the predictions table: metrics, bootstrap CIs, curves, LoRA analysis, report.

The table contract (read/write/validate, build from arrays) is
:mod:`hyperct.inference.predictions`, where predictions are made. Modules, in the order a result
is built:

* ``auc`` - rank-based AUC, for one sample or all bootstrap resamples at once.
* ``metrics`` - per-task AUC, Brier, and metrics at the validation-chosen operating point.
* ``bootstrap`` - percentile CIs for task, group and overall AUCs; paired model comparison.
* ``decision_curve``, ``calibration`` - net benefit; reliability bins and calibration slope.
* ``tables`` - all of the above for a set of models (``EvaluationConfig``).
* ``plots``, ``html``, ``report`` - figures and the self-contained HTML page (``evaluate``).
* ``sources`` - RUN folders and external prediction files as inputs.
* ``lora``, ``lora_plots`` - analysis of the LoRA a HyperCT hypernetwork generates per task.
* ``report_extras`` - optional report sections (LoRA, saliency images, segmentation, reports).
* ``segmentation``, ``segmentation_summary``, ``segmentation_files`` - Dice, hit rate and
  instance F1 from mask files, per category with bootstrap CIs (``evaluate-masks``).
* ``report_metrics``, ``clinical_efficacy`` - BLEU, METEOR, ROUGE-L, CIDEr, CE-F1, CRG and
  diversity of generated reports (``evaluate-reports``).
"""
