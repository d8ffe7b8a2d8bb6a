import pytest

from hyperct.labels.reports.rules import RulesConfig, label_report
from hyperct.tasks import CONVENTIONAL


@pytest.mark.parametrize(
    "text, task, label",
    [
        ("Moderate cardiomegaly.", "Cardiomegaly", 1),
        ("Heart size increased.", "Cardiomegaly", 1),
        ("The cardiothoracic index increased in favor of the heart.", "Cardiomegaly", 1),
        (
            "Mediastinal main vascular structures, heart contour, size are normal.",
            "Cardiomegaly",
            0,
        ),
        ("The heart is not enlarged.", "Cardiomegaly", 0),
        ("No pleural or pericardial effusion was detected.", "Pleural effusion", 0),
        ("No pleural or pericardial effusion was detected.", "Pericardial effusion", 0),
        ("Effusion reaching 2 cm was observed in both pleural spaces.", "Pleural effusion", 1),
        ("Minimal effusion was observed in the pericardial space.", "Pericardial effusion", 1),
        ("Minimal effusion was observed in the pericardial space.", "Pleural effusion", -1),
        ("Calcified plaques in the coronary arteries.", "Coronary artery wall calcification", 1),
        ("Calcified plaques in the coronary arteries.", "Arterial wall calcification", -1),
        (
            "Calcific atheroma plaques in the aorta and coronary arteries.",
            "Arterial wall calcification",
            1,
        ),
        (
            "Calcific atheroma plaques in the aorta and coronary arteries.",
            "Coronary artery wall calcification",
            1,
        ),
        (
            "Dilatation of the aorta, atheroma plaques in coronary arteries.",
            "Arterial wall calcification",
            -1,
        ),
        ("Linear densities compatible with sequelae changes.", "Pulmonary fibrotic sequela", 1),
        ("Fibroatelectatic changes in the left lower lobe.", "Atelectasis", -1),
        ("Fibroatelectatic changes in the left lower lobe.", "Pulmonary fibrotic sequela", 1),
        ("A hypodense nodule in the liver.", "Lung nodule", -1),
        ("A 4 mm nodule in the right lung lower lobe.", "Lung nodule", 1),
        ("No contrast material was given.", "Medical material", -1),
        ("Median sternotomy wires and a central venous catheter.", "Medical material", 1),
        ("An internal fixator extends from L4 to S1.", "Medical material", 1),
        ("No fixator or other hardware is seen.", "Medical material", 0),
        ("Sliding type hiatal hernia.", "Hiatal hernia", 1),
        ("Thoracic CT examination within normal limits.", "Emphysema", 0),
        ("Bone structures are within normal limits.", "Emphysema", -1),
    ],
)
def test_reference_sentences(text, task, label):
    assert label_report(text).labels[task] == label


@pytest.mark.parametrize(
    "text, task, label",
    [
        ("Peribronchial diffuse mild increase in thickness in both lungs.",
         "Peribronchial thickening", 1),
        ("Thickening and traction bronchiectasis are observed along the peribronchial sheath.",
         "Peribronchial thickening", 1),
        ("Ground-glass areas along the peribronchial area and interlobular septal thickenings.",
         "Peribronchial thickening", -1),
        ("Interlobular septal and interstitial thickening in the lower lobes.",
         "Interlobular septal thickening", 1),
        ("Prominent interlobular septa in both lower lobes.", "Interlobular septal thickening", 1),
        ("Interstitial thickening in both lungs.", "Interlobular septal thickening", 1),
        ("Thickening of the peribronchovascular interstitium.", "Interlobular septal thickening", 1),
        ("Thickening of the interatrial septum.", "Interlobular septal thickening", -1),
        ("Pericardial thickening is observed.", "Pericardial effusion", -1),
        ("Pericardial thickening and effusion were observed.", "Pericardial effusion", 1),
        ("Pericardial effusion - no thickening was detected.", "Pericardial effusion", 0),
        ("No pleural effusion or pericardial fluid.", "Pericardial effusion", 0),
        ("Fluid is observed in the pericardium.", "Pericardial effusion", 1),
        ("Dependent density increases in the posterior lower lobes.", "Lung opacity", 1),
        ("Subsegmental atelectasis and dependent density increases.", "Lung opacity", 1),
        ("A nodule with an icy density in the right lower lobe.", "Lung opacity", 1),
        ("The ground glass areas seen before have regressed.", "Lung opacity", 0),
        ("The infiltration shows complete regression.", "Lung opacity", 0),
        ("Mass, nodule and infiltration were not distinguished.", "Lung opacity", 0),
        ("Consolidation cannot be distinguished from atelectasis.", "Consolidation", 1),
        ("The tumour shows infiltration into the kidney parenchyma.", "Lung opacity", -1),
        ("There are subpleural bands in both lower lobes.", "Pulmonary fibrotic sequela", 1),
        ("Sequelae of a fracture in the right humerus.", "Pulmonary fibrotic sequela", -1),
        ("Honeycombing in both lower lobes.", "Pulmonary fibrotic sequela", -1),
        ("Conglomerate LAPs in the mediastinum.", "Lymphadenopathy", 1),
        ("Intra-abdominal lymph nodes are observed.", "Lymphadenopathy", -1),
        ("A lesion in the spleen hilum (lymph node?).", "Lymphadenopathy", -1),
        ("Lymph nodes in the mediastinum and in the abdominal cavity.", "Lymphadenopathy", 1),
        ("Band atelectasis in the lingula.", "Pulmonary fibrotic sequela", -1),
        ("Septal lines at both lung bases.", "Interlobular septal thickening", 1),
        ("Areas of increased attenuation in the left lung.", "Lung opacity", 1),
        # A prior-study frame holds across the ", there is" clause break.
        ("On the earlier CT of the patient, there was a consolidation in the right lower lobe.",
         "Consolidation", 0),
        ("Compared with the earlier CT, there is a consolidation in the right lower lobe.",
         "Consolidation", 1),
        # A scar word joined by "and" is a second finding, not what the density is.
        ("Patchy increases in density and fibrotic bands in the left upper lobe.",
         "Lung opacity", 1),
        ("Patchy increases in density evaluated in favor of fibrotic bands in the left upper "
         "lobe.", "Lung opacity", -1),
        ("Fibrotic bands and patchy increases in density in the left upper lobe.",
         "Lung opacity", 1),
        ("Pleural-parenchymal density increases at both apices.", "Lung opacity", -1),
        # An "and" between two sites does not coordinate the density with the scar.
        ("Density increases in the lingula and the middle lobe evaluated in favor of "
         "atelectasis.", "Lung opacity", -1),
        # Ground-glass consolidation is a ground-glass opacity, not a consolidation.
        ("Patchy ground glass consolidations in the right upper lobe.", "Consolidation", -1),
        ("Patchy ground glass consolidations in the right upper lobe.", "Lung opacity", 1),
        ("Ground glass opacities and consolidation in the right upper lobe.", "Consolidation", 1),
        ("A bilateral small amount of effusion is observed.", "Pleural effusion", 1),
        ("Left-sided effusion was not detected.", "Pleural effusion", 0),
        ("A bilateral small amount of effusion is observed.", "Pericardial effusion", -1),
    ],
)
def test_radiology_phrasings(text, task, label):
    assert label_report(text).labels[task] == label


# Synonyms and dictation spellings of the four findings that bound CE-F1, in sentences written
# for these tests (not taken from the shared reports).
@pytest.mark.parametrize(
    "text, task, label",
    [
        ("Peri-bronchial thickening in both lower lobes.", "Peribronchial thickening", 1),
        ("Mild peribronchial thickning at the bases.", "Peribronchial thickening", 1),
        ("Thickened bronchovascular bundles in the right lung.", "Peribronchial thickening", 1),
        ("Bronchovascular bundle thickening in both lungs.", "Peribronchial thickening", 1),
        ("Normal bronchovascular bundles.", "Peribronchial thickening", -1),
        ("Peribronchial and interlobular septal thickening at the bases.",
         "Peribronchial thickening", 1),
        ("Peribronchial, interstitial and pleural thickening.", "Peribronchial thickening", 1),
        ("Peribronchial and interlobular septal thickening at the bases.",
         "Interlobular septal thickening", 1),
        ("Interlobular septa are prominent in both lower lobes.",
         "Interlobular septal thickening", 1),
        ("Matte glass densities in both lungs.", "Lung opacity", 1),
        # A mention never spans a negation: "septa are not thickened" is no septal thickening.
        ("Interlobular septa are not thickened.", "Interlobular septal thickening", -1),
        ("Interlobular septa are not prominent.", "Interlobular septal thickening", -1),
        ("Bronchovascular bundles are not thickened.", "Peribronchial thickening", -1),
        ("Effusion is not seen in the pericardial space.", "Pericardial effusion", -1),
        # Fluid belongs to the pericardium only when "pericardial" names the sac and no other
        # finding or list item stands between them.
        ("Bilateral pleural effusion and pericardial thickening.", "Pericardial effusion", -1),
        ("Effusion in the right hemithorax, pericardial fat pad is prominent.",
         "Pericardial effusion", -1),
        ("Pleural effusion with adjacent atelectasis near the pericardium.",
         "Pericardial effusion", -1),
        ("Effusion in both pleural spaces and in the pericardium.", "Pericardial effusion", 1),
        ("Effusion measuring 8 mm in the thickest part of the pericardial space.",
         "Pericardial effusion", 1),
        ("Pericardial effusion and pleural thickening.", "Pleural effusion", -1),
        ("Effusion between the pleural leaves on the right.", "Pleural effusion", 1),
        ("Thickened interlobular septae at the bases.", "Interlobular septal thickening", 1),
        ("Interlobular septal thikening in the right lower lobe.",
         "Interlobular septal thickening", 1),
        ("Paraseptal emphysema and apical pleural thickening.",
         "Interlobular septal thickening", -1),
        ("A septated effusion with pleural thickening on the left.",
         "Interlobular septal thickening", -1),
        ("Small pericardial efusion.", "Pericardial effusion", 1),
        ("Moderate pericardial effussion is observed.", "Pericardial effusion", 1),
        ("Hemopericardium after the procedure.", "Pericardial effusion", 1),
        ("Pericardial thickening without effusion is noted.", "Pericardial effusion", -1),
        ("A physiological amount of pericardial fluid is present.", "Pericardial effusion", 0),
        ("Pericardial fluid within physiological limits.", "Pericardial effusion", 0),
        ("A thin rim of pericardial fluid anteriorly.", "Pericardial effusion", 1),
        ("Fluid is seen in the superior pericardial recess.", "Pericardial effusion", 0),
        ("Superior pericardial recess fluid, a normal variant.", "Pericardial effusion", 0),
        ("Pericardial effusion extending into the superior recess, 9 mm thick.",
         "Pericardial effusion", 1),
        ("Mild atlectasis in the left lower lobe.", "Atelectasis", 1),
        ("No atlectasis.", "Atelectasis", 0),
        ("Mild ectasia of the bronchi in both lower lobes.", "Bronchiectasis", 1),
        ("Ectasia in the pelvicalyceal system.", "Bronchiectasis", -1),
        ("A hernia of fat is seen at the level of the esophagogastric junction.",
         "Hiatal hernia", 1),
        ("A hernia is not seen at the gastroesophageal junction.", "Hiatal hernia", -1),
        ("An inguinal hernia on the right.", "Hiatal hernia", -1),
        # A nodule of the pleura is a pleural lesion; a subpleural one is in the lung.
        ("A pleural nodule of 8 mm near the minor fissure.", "Lung nodule", -1),
        ("Nodular lesions (metastases?) in the pleura on the right.", "Lung nodule", -1),
        ("A subpleural nodule of 4 mm in the right lower lobe.", "Lung nodule", 1),
        # Plaques named only in the coronary vessels are not a thoracic artery's.
        ("Calcified plaques on the wall of the coronary vascular structures.",
         "Arterial wall calcification", -1),
        ("Calcified plaques on the wall of the coronary vascular structures.",
         "Coronary artery wall calcification", 1),
        ("Calcified plaques in the aortic and coronary vascular structures.",
         "Arterial wall calcification", 1),
        ("Opacification of the right lower lobe.", "Lung opacity", 1),
        ("Patchy opacified areas in the lingula.", "Lung opacity", 1),
        ("Groundglass densities in the left upper lobe.", "Lung opacity", 1),
        ("Good contrast opacification of the pulmonary arteries.", "Lung opacity", -1),
        ("The opacified pulmonary arteries show no filling defect.", "Lung opacity", -1),
        # A lobe stated collapsed is atelectatic.
        ("Right lung middle lobe is collapsed and stable.", "Atelectasis", 1),
        ("The right lung is not collapsed.", "Atelectasis", -1),
        # An infiltrative character describes how a mass grows, not an infiltrate.
        ("Due to the infiltrative character of the lesion, its size cannot be given.",
         "Lung opacity", -1),
        ("Infiltrative changes in the left lung lower lobe.", "Lung opacity", 1),
    ],
)
def test_synonyms_and_spellings(text, task, label):
    assert label_report(text).labels[task] == label


# What a lung density or infiltration is read as, in sentences written for these tests.
@pytest.mark.parametrize(
    "text, task, label",
    [
        # An infiltration that only interprets another finding is a diagnosis.
        ("Consolidation in the left lower lobe, considered as pneumonic infiltration.",
         "Lung opacity", -1),
        ("The findings should be correlated clinically in terms of infiltration.",
         "Lung opacity", -1),
        ("Patchy densities in the right lung compatible with infiltration.", "Lung opacity", 1),
        ("Infiltration in the right lower lobe.", "Lung opacity", 1),
        # A relative clause says what the density is.
        ("Density increases at both apices, which are considered sequelae.", "Lung opacity", -1),
        ("Density increases at both bases, which may be atelectasis or pneumonia.",
         "Lung opacity", 1),
        ("Density increases consistent with atelectasis and infection at the bases.",
         "Lung opacity", 1),
        # Invasion by a tumour, and the parenchyma of another organ, are not lung opacities.
        ("Malignant infiltration of the left brachial plexus.", "Lung opacity", -1),
        ("Perineural infiltration along the intercostal nerves.", "Lung opacity", -1),
        ("Hypodense areas in the spleen parenchyma (infiltration?).", "Lung opacity", -1),
        ("A nodule in the thyroid gland parenchyma.", "Lung nodule", -1),
        ("Patchy infiltration in the lung parenchyma.", "Lung opacity", 1),
        # A site named in a later list item does not veto an earlier one.
        ("Ground glass opacities in both lungs, hepatosteatosis in the liver.",
         "Lung opacity", 1),
        ("Patchy ground glass opacity in the lingula and a cyst in the left kidney.",
         "Lung opacity", 1),
        ("Subcutaneous emphysema in the chest wall, centrilobular emphysema in both lungs.",
         "Emphysema", 1),
        ("In the liver, a hypodense nodule of 8 mm.", "Lung nodule", -1),
        ("A nodule in the thyroid gland (6 mm, stable).", "Lung nodule", -1),
        ("Nodules in the anterior and posterior mediastinum.", "Lung nodule", -1),
        ("Postoperative density increases in the left chest wall.", "Lung opacity", -1),
        # A scar the density is only compatible with leaves it an opacity; a scar that names
        # it, a conclusion about it, or a pleuroparenchymal reading makes it the scar.
        ("Linear density increases consistent with sequelae changes in the lingula.",
         "Lung opacity", 1),
        ("Linear density increases consistent with sequelae changes in the lingula.",
         "Pulmonary fibrotic sequela", 1),
        ("Density increase in the right upper lobe compatible with mild fibrosis.",
         "Lung opacity", 1),
        ("Linear densities in the middle lobe, possibly compatible with old scarring.",
         "Lung opacity", 1),
        ("Sequelae density increases in the right middle lobe.", "Lung opacity", -1),
        ("Density increases evaluated in favor of sequelae at both apices.", "Lung opacity", -1),
        ("Density increases consistent with pleuroparenchymal sequelae at both apices.",
         "Lung opacity", -1),
        ("Linear density compatible with pleuroparenchymal scarring in the lingula.",
         "Lung opacity", -1),
        # Where pleura and lung meet, a density, band or retraction is a scar.
        ("Pleuroparenchymal density increases at both apices.", "Pulmonary fibrotic sequela", 1),
        ("Pleuroparenchymal densities in the left lower lobe.", "Pulmonary fibrotic sequela", 1),
        ("Pleuroparenchymal recession in the right middle lobe.",
         "Pulmonary fibrotic sequela", 1),
        ("Pleuroparenchymal densities in the left lower lobe.", "Lung opacity", -1),
        ("No pleuroparenchymal density increase is seen.", "Pulmonary fibrotic sequela", 0),
        ("Increased pleuroparenchymal fat at the right base.", "Pulmonary fibrotic sequela", -1),
        # Idiopathic pulmonary fibrosis is a disease, not a sequela; a scar is one.
        ("Known idiopathic pulmonary fibrosis with honeycombing at the bases.",
         "Pulmonary fibrotic sequela", -1),
        ("Known IPF. Fibrotic bands in the right middle lobe.", "Pulmonary fibrotic sequela", 1),
        ("Fibrotic scarring in the right upper lobe.", "Pulmonary fibrotic sequela", 1),
        ("A nodule in the left axilla.", "Lung nodule", -1),
        ("A 5 mm nodule in the esophageal wall.", "Lung nodule", -1),
    ],
)
def test_what_a_density_is_read_as(text, task, label):
    assert label_report(text).labels[task] == label


def test_all_findings_and_evidence():
    out = label_report("No pleural effusion. Minimal atelectasis in the left lower lobe.")
    assert set(out.labels) == {t.name for t in CONVENTIONAL}
    assert out.evidence["Atelectasis"].sentence == "Minimal atelectasis in the left lower lobe."
    assert out.evidence["Pleural effusion"].cue == "No"
    assert "Emphysema" not in out.evidence


def test_present_mention_wins_over_negated_one():
    text = "No pleural effusion on the left. Minimal pleural effusion on the right."
    assert label_report(text).labels["Pleural effusion"] == 1


@pytest.mark.parametrize("setting, expected", [(1, 1), (0, 0), (-1, -1)])
def test_hedged_label_is_configurable(setting, expected):
    out = label_report("Possible small hiatal hernia.", RulesConfig(uncertain_label=setting))
    assert out.labels["Hiatal hernia"] == expected


def test_conventions():
    text = "Millimetric lymph nodes are observed in the mediastinum."
    assert label_report(text).labels["Lymphadenopathy"] == 1
    strict = label_report(text, RulesConfig(convention="catalogue"))
    assert strict.labels["Lymphadenopathy"] == 0
    big = "Enlarged mediastinal lymph nodes measuring up to 15 mm."
    assert label_report(big, RulesConfig(convention="catalogue")).labels["Lymphadenopathy"] == 1
    wall = "Bronchial wall thickening in both lower lobes."
    assert label_report(wall).labels["Peribronchial thickening"] == -1
    catalogue = label_report(wall, RulesConfig(convention="catalogue"))
    assert catalogue.labels["Peribronchial thickening"] == 1


def test_config_validation():
    with pytest.raises(ValueError, match="uncertain_label"):
        RulesConfig(uncertain_label=2)
    with pytest.raises(ValueError, match="convention"):
        RulesConfig(convention="some")


def test_quality_on_real_reports(shared_data):
    import pandas as pd

    from hyperct.labels.evaluate import evaluate_labels
    from hyperct.labels.reports.batch import label_reports

    gold = pd.read_csv(shared_data / "reports" / "ctrate_reports_train.csv").head(150)
    run = label_reports(gold[["AccessionNo", "report_text"]])
    assert evaluate_labels(run.labels, gold).macro_f1 > 0.9


@pytest.mark.parametrize(
    "text",
    [
        "Kein Emphysem. Kein Hinweis auf Pleuraerguss.",
        "Pas d'emphysème. Pas d'épanchement pleural.",
        "Enfisema centrolobulillar. No hay derrame pleural.",
        "Amfizem yok. Plevral efüzyon izlenmedi.",
    ],
)
def test_non_english_report_gets_minus_one_everywhere_with_a_warning(text, caplog):
    with caplog.at_level("WARNING", logger="hyperct.labels.reports.rules"):
        out = label_report(text)
    assert set(out.labels) == {t.name for t in CONVENTIONAL}
    assert set(out.labels.values()) == {-1}
    assert out.evidence == {} and "not in English" in out.not_labelled
    assert "not in English" in caplog.text
