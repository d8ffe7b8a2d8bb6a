"""Agreement with the phantom cohort: the labels its reports state and its echo exams imply."""

import numpy as np
import pandas as pd

from hyperct.labels.echo.curate import curate_echo_labels
from hyperct.labels.reports.rules import RulesConfig, label_report
from hyperct.phantom.cardiac import expected_echo_labels
from hyperct.phantom.config import PhantomConfig
from hyperct.phantom.plan import plan_cohort
from hyperct.phantom.reports import write_report
from hyperct.tasks import CONVENTIONAL, OPPORTUNISTIC


def test_echo_labels_match_the_phantom_expectation():
    plan = plan_cohort(PhantomConfig(n=120, seed=11))
    ct = pd.DataFrame(
        [
            {
                "scan_id": s.spec.scan_id,
                "patient_id": s.patient_id,
                "study_date": s.study_date.isoformat(),
                "sex": s.spec.patient.sex,
            }
            for s in plan.scans
        ]
    )
    echo = pd.DataFrame(list(plan.echo_exams))
    echo["exam_date"] = echo["exam_date"].map(lambda d: d.isoformat())
    result = curate_echo_labels(ct, echo)
    assert result.problems == []
    got = result.labels.set_index("scan_id")
    for s in plan.scans:
        exams = [e for e in plan.echo_exams if e["patient_id"] == s.patient_id]
        expected = expected_echo_labels(exams, s.study_date, s.spec.patient.sex)
        assert {t.name: got.loc[s.spec.scan_id, t.name] for t in OPPORTUNISTIC} == expected


def test_reports_agree_with_what_the_phantom_states():
    plan = plan_cohort(PhantomConfig(n=80, seed=12))
    rng = np.random.default_rng(0)
    config = RulesConfig(convention="catalogue")  # the phantom writes by the task catalogue
    for s in plan.scans:
        text, stated = write_report(s.spec.findings, {}, rng)
        got = label_report(text, config).labels
        for task in CONVENTIONAL:
            assert (got[task.name] == 1) == (stated[task.name] == 1), (task.name, text)
