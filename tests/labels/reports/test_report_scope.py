import pytest

from hyperct.labels.reports.scope import Status, classify_mention


def _status(clause: str, phrase: str) -> Status:
    start = clause.index(phrase)
    return classify_mention(clause, start, start + len(phrase)).status


@pytest.mark.parametrize(
    "clause, phrase, expected",
    [
        ("No pleural effusion", "pleural effusion", Status.ABSENT),
        ("Pleural effusion was not observed", "Pleural effusion", Status.ABSENT),
        ("Pericardial effusion-thickening was not detected", "Pericardial effusion", Status.ABSENT),
        ("without consolidation", "consolidation", Status.ABSENT),
        ("Consolidation has resolved", "Consolidation", Status.ABSENT),
        ("The catheter was removed", "catheter", Status.ABSENT),
        ("Atelectasis is no longer seen", "Atelectasis", Status.ABSENT),
        ("Malignancy ruled out, no effusion", "effusion", Status.ABSENT),
        ("Possible hiatal hernia", "hiatal hernia", Status.UNCERTAIN),
        ("Bronchiectasis?", "Bronchiectasis", Status.UNCERTAIN),
        ("Lymphadenopathy cannot be excluded", "Lymphadenopathy", Status.UNCERTAIN),
        ("Lymphadenopathy cannot be ruled out", "Lymphadenopathy", Status.UNCERTAIN),
        ("Bilateral pleural effusion", "pleural effusion", Status.PRESENT),
        ("No significant change in the nodule", "nodule", Status.PRESENT),
        ("Atelectasis is unlikely", "Atelectasis", Status.ABSENT),
        ("Infiltration was not distinguished", "Infiltration", Status.ABSENT),
        ("Infiltration could not be distinguished", "Infiltration", Status.UNCERTAIN),
        ("The opacities show complete regression", "opacities", Status.ABSENT),
        ("The opacities have regressed", "opacities", Status.ABSENT),
        ("The opacities have regressed partially", "opacities", Status.PRESENT),
        ("Pericardial effusion - no thickening was detected", "Pericardial effusion",
         Status.ABSENT),
        ("In the previous examination, there is consolidation in the lingula", "consolidation",
         Status.ABSENT),
        ("areas previously observed as consolidation are ground glass now", "consolidation",
         Status.ABSENT),
        ("In the previous examination the nodule measured 5 mm", "nodule", Status.PRESENT),
        # Gone in the current examination: "lost", "has been lost".
        ("The ground glass areas seen before have been lost in the current review",
         "ground glass", Status.ABSENT),
        ("The consolidation has been lost", "consolidation", Status.ABSENT),
        ("Ground glass opacities with volume loss in the right lower lobe", "Ground glass",
         Status.PRESENT),
        # "selected" (translated "discerned") is a verb of seeing.
        ("The atelectasis seen before is not selected in this examination", "atelectasis",
         Status.ABSENT),
        ("The atelectasis is not selected in this examination, and peribronchial thickenings "
         "are present", "peribronchial thickenings", Status.PRESENT),
        ("A ground glass area, which was also selected in the previous examination",
         "ground glass", Status.PRESENT),
        # An incomplete regression leaves a residue.
        ("The frosted glass areas have almost completely disappeared", "frosted glass",
         Status.PRESENT),
        ("The frosted glass areas have completely disappeared", "frosted glass", Status.ABSENT),
        ("The ground glass densities show nearly complete regression", "ground glass",
         Status.PRESENT),
        ("The consolidation largely resolved in the current examination", "consolidation",
         Status.PRESENT),
        ("The consolidation resolved in the current examination", "consolidation",
         Status.ABSENT),
    ],
)
def test_scope(clause, phrase, expected):
    assert _status(clause, phrase) is expected


def test_prior_study_frame_reaches_over_the_clause_break():
    clause = "there is a consolidation in the lingula"
    start = clause.index("consolidation")
    end = start + len("consolidation")
    framed = classify_mention(clause, start, end, preceding="On the prior CT of the patient, ")
    assert framed.status is Status.ABSENT
    # Only the prior-study frame reaches over: a negation before the break does not.
    assert classify_mention(clause, start, end, preceding="No effusion, ").status is Status.PRESENT


def test_history_not_in_this_examination():
    clause = (
        "A ground-glass nodule in the lower lobe of the left lung, which was observed in the "
        "previous examination, was not detected in the current examination"
    )
    assert _status(clause, "nodule") is Status.ABSENT


def test_negation_about_the_past_exam_does_not_negate_now():
    clause = "Ground glass areas are seen which were not present in the previous examination"
    assert _status(clause, "Ground glass") is Status.PRESENT


# Negation scope and "no change" wording, in sentences written for these tests.
@pytest.mark.parametrize(
    "clause, phrase, expected",
    [
        # A denied change is no denied finding.
        ("Pericardial effusion has not shown significant change", "Pericardial effusion",
         Status.PRESENT),
        ("The opacities did not show any significant size change", "opacities", Status.PRESENT),
        ("Septal thickening without interval change", "Septal thickening", Status.PRESENT),
        ("Peribronchial thickening has not shown", "Peribronchial thickening", Status.ABSENT),
        # A negated phrase closed by its own verb does not reach the next one.
        ("No nodule was detected, ground glass opacities are seen in both lungs",
         "ground glass", Status.PRESENT),
        ("No nodule, ground glass opacity or consolidation was detected", "ground glass",
         Status.ABSENT),
        ("The band is not seen in this examination, and peribronchial thickenings are present",
         "peribronchial thickenings", Status.PRESENT),
        ("Atelectasis is not seen and septal thickening is not seen", "septal thickening",
         Status.ABSENT),
        # A severity word after a comma or "and" opens an affirmed noun phrase.
        ("No pleural effusion, mild peribronchial thickening", "peribronchial thickening",
         Status.PRESENT),
        ("No pleural effusion and minimal pericardial effusion", "pericardial effusion",
         Status.PRESENT),
        ("No pleural or pericardial effusion", "pericardial effusion", Status.ABSENT),
        ("No pleural effusion, focal consolidation, patchy opacity or pneumothorax",
         "patchy opacity", Status.ABSENT),
        ("Neither peribronchial thickening nor bronchiectasis", "bronchiectasis", Status.ABSENT),
        # A noun saying the finding has gone, right before it.
        ("Resolution of the consolidation in the right lower lobe", "consolidation",
         Status.ABSENT),
        ("Loss of consolidation is seen in this examination", "consolidation", Status.ABSENT),
        ("Consolidation with loss of volume in the left lower lobe", "Consolidation",
         Status.PRESENT),
        ("Loss of aeration with atelectasis at the left base", "atelectasis", Status.PRESENT),
        # The answer to a heading.
        ("Pericardial effusion: none", "Pericardial effusion", Status.ABSENT),
        ("Pericardial effusion: negative", "Pericardial effusion", Status.ABSENT),
    ],
)
def test_negation_scope_and_change_wording(clause, phrase, expected):
    assert _status(clause, phrase) is expected
