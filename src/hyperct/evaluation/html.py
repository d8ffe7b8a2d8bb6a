"""HTML pieces of the evaluation report: tables, figures and the self-contained page.

The page has inline CSS and images as ``data:`` URIs only, so it can be mailed or archived as
one file. Every value is escaped; numbers are formatted in one place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import pandas as pd

from hyperct.tasks import GROUPS, TASK_NAMES, task_by_name

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px auto;
 max-width:1280px;color:#222;line-height:1.4;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;margin-top:36px;border-bottom:2px solid #ddd;
 padding-bottom:4px}h3{font-size:15px;margin-top:24px}
p.meta{color:#666;font-size:13px;margin-top:0}
table{border-collapse:collapse;font-size:13px;margin:8px 0 16px}
th,td{padding:4px 9px;border-bottom:1px solid #e4e4e4;text-align:right;vertical-align:top}
th{background:#f3f5f7;position:sticky;top:0}td.name,th.name{text-align:left}
tr.grouphead td{background:#fafafa;font-weight:600;text-align:left;color:#555}
tr.mean td{font-weight:600;background:#f6f9fc}tr.overall td{border-top:2px solid #999}
span.ci{color:#777;font-size:11px;white-space:nowrap}b.best{color:#0b5394}
td.na{color:#aaa}span.opp{color:#8a3b00}.note{color:#666;font-size:12px}
img{max-width:100%;border:1px solid #eee;margin:6px 0}
figure{margin:12px 0}figcaption{font-size:12px;color:#555}
details{margin:8px 0}summary{cursor:pointer;color:#0b5394}
sup.warn{color:#b00020;font-weight:600;cursor:help}
"""

_WARN = "\u2020"  # dagger: marks an unreliable bootstrap interval, explained in a footnote


@dataclass(frozen=True)
class Section:
    """One ``<h2>`` section of the page."""

    title: str
    body: str
    anchor: str


def fmt(value: float, digits: int = 3) -> str:
    """A number for a table cell; NaN becomes an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2013"
    return f"{value:.{digits}f}"


def auc_table(ci: pd.DataFrame, counts: pd.DataFrame, models: Sequence[str]) -> str:
    """Table-1 style: tasks as rows (by group, then group means and the overall mean), one
    column per model with AUC and its CI; the best AUC of a row in bold when several models.

    ``ci`` holds one cohort/split (columns model, level, name, auc, ci_low, ci_high and
    optionally ci_warning); ``counts`` is indexed by task with n and n_pos. Flagged intervals
    are marked and listed in a footnote.
    """
    cells = ci.set_index(["name", "model"])
    head = "".join(f"<th>{escape(m)}</th>" for m in models)
    rows = [f"<tr><th class=name>task</th><th>positives / n</th>{head}</tr>"]
    tasks = [t for t in TASK_NAMES if t in set(ci["name"])]
    for group in GROUPS:
        members = [t for t in tasks if task_by_name(t).group == group]
        if not members:
            continue
        rows.append(f"<tr class=grouphead><td colspan={len(models) + 2}>{group}</td></tr>")
        for task in members:
            n = counts.loc[task] if task in counts.index else None
            size = f"{int(n['n_pos'])} / {int(n['n'])}" if n is not None else ""
            rows.append(_auc_row(escape(task), size, cells, task, models, ""))
    for name in (*GROUPS, "overall"):
        if (name, models[0]) in cells.index or any((name, m) in cells.index for m in models):
            label = f"mean, {name}" if name != "overall" else "mean, all tasks"
            css = "mean overall" if name == "overall" else "mean"
            rows.append(_auc_row(label, "", cells, name, models, css))
    return "<table>" + "".join(rows) + "</table>" + ci_footnote(ci, with_subset=False)


def summary_table(means: pd.DataFrame, models: Sequence[str]) -> str:
    """Group and overall mean AUCs: one row per (cohort, split, mean), one column per model."""
    head = "".join(f"<th>{escape(m)}</th>" for m in models)
    rows = [
        f"<tr><th class=name>cohort</th><th class=name>split</th><th class=name>mean over</th>{head}</tr>"
    ]
    for (cohort, split), sub in means.groupby(["cohort", "split"], sort=False):
        cells = sub.set_index(["name", "model"])
        for name in (*GROUPS, "overall"):
            if not any((name, m) in cells.index for m in models):
                continue
            label = f"{escape(cohort)}</td><td class=name>{escape(split)}</td><td class=name>{escape(_row_label(name))}"
            css = "mean overall" if name == "overall" else ""
            rows.append(_auc_row(label, None, cells, name, models, css))
    return "<table>" + "".join(rows) + "</table>" + ci_footnote(means, with_subset=True)


def difference_table(diff: pd.DataFrame, others: Sequence[str], reference: str) -> str:
    """AUC differences ``model - reference`` with paired-bootstrap CI and p-value."""
    cells = diff.set_index(["name", "model"])
    head = "".join(f"<th>{escape(m)} \u2212 {escape(reference)}</th>" for m in others)
    rows = [f"<tr><th class=name>task</th>{head}</tr>"]
    names = [t for t in TASK_NAMES if t in set(diff["name"])] + [
        g for g in (*GROUPS, "overall") if g in set(diff["name"])
    ]
    for name in names:
        css = (
            " class='mean overall'"
            if name == "overall"
            else (" class=mean" if name in GROUPS else "")
        )
        row = [f"<tr{css}><td class=name>{escape(_row_label(name))}</td>"]
        for model in others:
            if (name, model) not in cells.index:
                row.append("<td class=na>\u2013</td>")
                continue
            r = cells.loc[(name, model)]
            sign = "+" if r["difference"] > 0 else ""
            row.append(
                f"<td>{sign}{fmt(r['difference'])} <span class=ci>({fmt(r['ci_low'])}, "
                f"{fmt(r['ci_high'])}) p={_fmt_p(r['p_value'])}</span>{_warn_mark(r)}</td>"
            )
        rows.append("".join(row) + "</tr>")
    return "<table>" + "".join(rows) + "</table>" + ci_footnote(diff, with_subset=False)


def ci_footnote(table: pd.DataFrame, with_subset: bool) -> str:
    """The footnote under a table listing its flagged intervals and why (nothing if none).

    ``table`` has columns model, name and ci_warning (and cohort, split with ``with_subset``)."""
    if "ci_warning" not in table.columns:
        return ""
    flagged = table[table["ci_warning"].fillna("").astype(str) != ""]
    if flagged.empty:
        return ""
    items = []
    for _, r in flagged.iterrows():
        where = f"{r['cohort']}, {r['split']}, " if with_subset else ""
        items.append(
            f"{escape(str(r['model']))} ({escape(where + _row_label(r['name']))}): "
            f"{escape(r['ci_warning'])}"
        )
    return (
        f"<p class=note><sup class=warn>{_WARN}</sup> Unreliable bootstrap interval, read with "
        "care: too few scans in the smaller class, or too few valid resamples. "
        + "; ".join(items)
        + ".</p>"
    )


def operating_table(metrics: pd.DataFrame) -> str:
    """Per-task metrics of one model at its validation-chosen operating point."""
    columns = [
        ("threshold", "threshold", 3),
        ("sensitivity", "sens.", 3),
        ("specificity", "spec.", 3),
        ("ppv", "PPV", 3),
        ("npv", "NPV", 3),
        ("f1", "F1", 3),
        ("balanced_accuracy", "bal. acc.", 3),
        ("brier", "Brier", 3),
        ("calibration_slope", "cal. slope", 2),
        ("calibration_intercept", "cal. intercept", 2),
    ]
    head = "".join(f"<th>{label}</th>" for _, label, _ in columns)
    rows = [
        f"<tr><th class=name>task</th><th>prevalence</th>{head}<th class=name>threshold from</th></tr>"
    ]
    for _, r in metrics.iterrows():
        values = "".join(f"<td>{fmt(r.get(c, float('nan')), d)}</td>" for c, _, d in columns)
        rows.append(
            f"<tr><td class=name>{escape(r['task'])}</td><td>{fmt(r['prevalence'])}</td>{values}"
            f"<td class=name>{escape(str(r['threshold_source']))}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def figure(src: str, caption: str) -> str:
    """An embedded image with a caption; ``src`` must be a ``data:`` URI."""
    if not src.startswith("data:"):
        raise ValueError("report images must be embedded as data: URIs")
    return f"<figure><img src='{src}' alt='{escape(caption)}'><figcaption>{escape(caption)}</figcaption></figure>"


def page(title: str, meta: str, sections: Sequence[Section]) -> str:
    """The whole HTML document with a table of contents."""
    toc = " \u00b7 ".join(f"<a href='#{s.anchor}'>{escape(s.title)}</a>" for s in sections)
    body = "".join(f"<h2 id='{s.anchor}'>{escape(s.title)}</h2>{s.body}" for s in sections)
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class=meta>{meta}</p><p class=meta>{toc}</p>{body}"
        "</body></html>\n"
    )


def _auc_row(
    label: str, size: str | None, cells: pd.DataFrame, name: str, models: Sequence[str], css: str
) -> str:
    values = [
        cells.loc[(name, m), "auc"] if (name, m) in cells.index else float("nan") for m in models
    ]
    finite = [v for v in values if not math.isnan(v)]
    best = max(finite) if len(models) > 1 and finite else None
    size_cell = "" if size is None else f"<td>{size}</td>"
    row = [f"<tr class='{css}'><td class=name>{label}</td>{size_cell}"]
    for model, value in zip(models, values):
        if math.isnan(value):
            note = cells.loc[(name, model)].get("note", "") if (name, model) in cells.index else ""
            text = f"\u2013 <span class=ci>{escape(str(note))}</span>" if note else "\u2013"
            row.append(f"<td class=na>{text}</td>")
            continue
        r = cells.loc[(name, model)]
        text = f"<b class=best>{fmt(value)}</b>" if value == best else fmt(value)
        row.append(
            f"<td>{text} <span class=ci>({fmt(r['ci_low'])}\u2013{fmt(r['ci_high'])})</span>"
            f"{_warn_mark(r)}</td>"
        )
    return "".join(row) + "</tr>"


def _warn_mark(row: pd.Series) -> str:
    """The marker after a flagged interval, with its reason as a tooltip."""
    warning = row.get("ci_warning", "")
    if not isinstance(warning, str) or not warning:
        return ""
    return f"<sup class=warn title='{escape(warning)}'>{_WARN}</sup>"


def _row_label(name: str) -> str:
    if name == "overall":
        return "mean, all tasks"
    return f"mean, {name}" if name in GROUPS else name


def _fmt_p(p: float) -> str:
    if isinstance(p, float) and math.isnan(p):
        return "\u2013"
    return "&lt;0.001" if p < 0.001 else f"{p:.3f}"
