from hyperct.labels.reports.text import split_clauses, split_sentences


def test_sentences_keep_decimals_and_dates():
    text = 'Compared with the exam dated 07.02.2022. A 3.5 mm nodule is seen. " Nodule " Emphysema'
    assert split_sentences(text) == [
        "Compared with the exam dated 07.02.2022.",
        "A 3.5 mm nodule is seen.",
        "Nodule",
        "Emphysema",
    ]


def test_sentences_split_on_semicolon_and_bullets():
    assert split_sentences("In the lung window; nodules \u2022 effusion") == [
        "In the lung window;",
        "nodules",
        "effusion",
    ]


def test_colon_keeps_a_heading_with_its_negative_answer():
    assert split_sentences("Pericardial effusion: none. Findings: mild emphysema") == [
        "Pericardial effusion: none.",
        "Findings:",
        "mild emphysema",
    ]
    assert split_sentences("Effusion - not seen. Septal thickening - Present") == [
        "Effusion - not seen.",
        "Septal thickening",
        "Present",
    ]


def test_clauses_break_at_contrast_words():
    clauses = split_clauses("No effusion was detected, but there is atelectasis")
    assert [c.text for c in clauses] == ["No effusion was detected", "there is atelectasis"]
    clauses = split_clauses("Nodules in both lungs, apart from this no mass")
    assert [c.text for c in clauses] == ["Nodules in both lungs", "this no mass"]
    assert clauses[1].start == len("Nodules in both lungs, apart from ")
