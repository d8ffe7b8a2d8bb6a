import pandas as pd
import pytest

from hyperct.labels.reports.language import check_language


@pytest.mark.parametrize(
    "text",
    [
        "Kein Emphysem.",
        "Kein Hinweis auf Pleuraerguss. Kein Emphysem.",
        "Der Befund ist unauffällig, keine Lymphadenopathie.",
        "Pas d'emphysème. Pas d'épanchement pleural.",
        "No hay derrame pleural ni enfisema.",
        "Sin enfisema. Nódulo pulmonar en el lóbulo superior derecho.",
        "Amfizem yok. Plevral efüzyon izlenmedi.",
        "Лёгкие без очаговых изменений.",
    ],
)
def test_other_languages_are_not_english(text):
    check = check_language(text)
    assert not check.english
    assert check.other_words > check.english_words


@pytest.mark.parametrize(
    "text",
    [
        "No emphysema.",
        "Emphysema.",
        "Pericardial effusion.",
        "Minimal atelectasis in the left lower lobe.",
        "Trachea and both main bronchi are open. No pleural effusion.",
    ],
)
def test_english_reports_and_bare_findings_are_english(text):
    assert check_language(text).english


def test_every_shared_ctrate_report_is_english(shared_data):
    reports = pd.read_csv(shared_data / "reports" / "ctrate_reports_train.csv")
    assert all(check_language(t).english for t in reports["report_text"])


def test_long_text_without_english_words_is_not_english():
    check = check_language("Xylo brumf quazzle " * 4)
    assert not check.english and check.words == 12 and check.english_words == 0
