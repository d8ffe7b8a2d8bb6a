import numpy as np

from hyperct.phantom.reports import write_report
from hyperct.tasks import CONVENTIONAL


def test_report_states_present_findings_and_negates_some_absent_ones():
    rng = np.random.default_rng(0)
    details = {
        "Lung nodule": {
            "nodules": [{"diameter_mm": 14.0, "kind": "solid", "lobe": "right upper lobe"}]
        },
        "Pleural effusion": {"side": "right", "thickness_mm": 30},
    }
    mentioned = 0
    for _ in range(40):
        text, stated = write_report({"Lung nodule": 0.9, "Pleural effusion": 0.9}, details, rng)
        assert set(stated) == {t.name for t in CONVENTIONAL}
        assert set(stated.values()) <= {-1, 0, 1}
        if stated["Lung nodule"] == 1:
            mentioned += 1
            assert "14 mm" in text or "1.4 cm" in text
        assert stated["Cardiomegaly"] in (-1, 0)
    assert mentioned >= 30


def test_normal_report_reads_normal_and_wording_varies():
    rng = np.random.default_rng(1)
    texts = {write_report({}, {}, rng)[0] for _ in range(20)}
    assert len(texts) > 5
    assert all("window;" in t for t in texts)
    assert any("normal" in t.lower() for t in texts)


def test_subtle_findings_are_sometimes_unmentioned():
    rng = np.random.default_rng(2)
    unmentioned = sum(
        write_report({"Emphysema": 0.05}, {}, rng)[1]["Emphysema"] == -1 for _ in range(300)
    )
    assert 10 < unmentioned < 120


def test_rules_labeler_reads_what_the_report_states():
    from hyperct.labels.reports.batch import rules_outcome
    from hyperct.phantom.patient import sample_findings, sample_infection, sample_patient

    rng = np.random.default_rng(3)
    for _ in range(60):
        p = sample_patient(rng, "p")
        text, stated = write_report(
            sample_findings(p, sample_infection(rng), rng, "internal"), {}, rng
        )
        got = rules_outcome(text).labels
        for name, want in stated.items():
            assert got[name] == want or (want == -1 and got[name] == 0), (
                name,
                want,
                got[name],
                text,
            )
