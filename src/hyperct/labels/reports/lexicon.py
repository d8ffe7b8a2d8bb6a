"""The finding lexicon: how radiologists write each of the 18 conventional findings.

Each :class:`FindingRule` lists regular expressions for mentions (synonyms, abbreviations and
misspellings seen in real reports), for contexts that veto a mention (another organ, another
sense of the word; read in the mention's own list item and what precedes it in the clause), and
for phrases that state the finding is absent without a negation word
("heart size is normal", "lymph nodes that did not reach pathological size"). Finding-specific
logic that a word list cannot express (calcified plaque in coronary vs aortic wall) lives in a
``context`` predicate that sees the sentence and the mention's span.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from hyperct.tasks import CONVENTIONAL

_I = re.IGNORECASE


@dataclass(frozen=True)
class FindingRule:
    """Lexicon and context rules for one finding (``task`` is the ``Task.name``)."""

    task: str
    terms: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    normal: tuple[str, ...] = ()
    context: Callable[[str, int, int], bool] | None = None
    term_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    exclude_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    normal_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.terms:
            raise ValueError(f"finding rule {self.task!r} has no terms")
        object.__setattr__(self, "term_re", _union(self.terms))
        object.__setattr__(self, "exclude_re", _union(self.exclude) if self.exclude else None)
        object.__setattr__(self, "normal_re", _union(self.normal) if self.normal else None)


def _union(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), _I)


# Organs outside the lung whose nodules, densities and scars are not lung findings.
_OTHER_ORGAN = (
    r"\b(?:thyroid|liver|hepatic|kidneys?|renal|adrenal|spleen|splenic|pancrea\w*|breasts?|"
    r"subcutaneous|cutaneous|skin|bones?|vertebra\w*|gallbladder|gall bladder|uterus|ovar\w*|"
    r"prostat\w*|bladder|intestin\w*|colon|gastric|muscles?|mediastinum|mediastinal|adipose|"
    r"humer\w*|ribs?|clavic\w*|scapul\w*|sternum|fractur\w*|"
    r"fat|fatty|mesenter\w*|perirenal|omentum|omental|peritone\w*|soft tissue|"
    r"nerves?|plexus|cauda|spinal|chest\s+wall|pericardi\w*|axilla\w*|o?esophag\w*|thym\w*)\b"
)
# Solid organs have a parenchyma of their own: "spleen parenchyma" is not the lung's.
_PARENCHYMAL_ORGANS = (
    "liver", "hepatic", "spleen", "splenic", "kidney", "renal", "thyroid", "breast", "pancreas",
    "pancreatic", "prostate", "adrenal", "gland",
)
_LUNG = (
    r"\b(?:lungs?|pulmonary|lobes?|lobar|"
    + "".join(rf"(?<!{organ}\s)" for organ in _PARENCHYMAL_ORGANS)
    + r"parenchym\w*|segments?|fissur\w*|subpleural|apical|apex|perihilar|lingula\w*)\b"
)
_NOT_IN_LUNG = _OTHER_ORGAN + r"(?![^.]*" + _LUNG + r")"

_CORONARY = re.compile(r"\bcoronar\w*|\b(?:LAD|LCx|RCA|circumflex|descending artery)\b", _I)
# Thoracic non-coronary arteries. Abdominal and pelvic vessels are outside a chest CT's finding
# (CT-RATE's annotators label calcified plaque of the abdominal aorta alone as absent).
_VESSEL = re.compile(
    r"\b(?:aort\w*|arter(?:y|ies|ial)|vascular|vessels?|carotid|subclavian|brachiocephalic|"
    r"arch|truncus|innominate)\b",
    _I,
)
_NOT_THORACIC = re.compile(
    r"\b(?:coronar\w*\s+(?:arter(?:y|ies)|vascular\s+structures?|vessels?|vasculature)|"
    r"coronar\w*|abdominal\s+aort\w*|abdominal\s+arter\w*|"
    r"(?:renal|iliac|femoral|celiac|mesenteric|splenic|hepatic)\s+arter\w*|infrarenal\s+aort\w*|"
    r"(?:aortic\s+)?valv\w*)",
    _I,
)
_SEGMENT = re.compile(r"[^,;()]+")


def _vessel_text(sentence: str, start: int) -> str:
    """Where a plaque's vessel is named: the words after it if they name one, else the sentence.

    Reports list vessels after the plaque ("plaques in the aortic arch, descending aorta and
    coronary arteries"), or name the vessel first ("In the aortic wall, calcified plaques").
    """
    forward = sentence[start:]
    if _VESSEL.search(forward) or _CORONARY.search(forward):
        return forward
    return sentence


def _is_coronary(sentence: str, start: int, end: int) -> bool:
    return bool(_CORONARY.search(_vessel_text(sentence, start)))


def _is_arterial(sentence: str, start: int, end: int) -> bool:
    return bool(_VESSEL.search(_NOT_THORACIC.sub(" ", _vessel_text(sentence, start))))


_PLEUROPARENCHYMAL = r"\bpleur[oa]-?parenchymal|\bpleural?[\s-]+parenchymal"
# Words that say a density is a scar, a band or a collapse. "Linear" is not among them: a
# linear opacity is an opacity of its own ("linear density increases in the lingula").
_SCAR_DENSITY = re.compile(
    r"\bsequel\w*|\bfibro\w*|\bat[ea]?lect\w*|\bcalcif\w*|\bscar\w*|\bsclero\w*|"
    + _PLEUROPARENCHYMAL
    + r"|\bsoft\s+tissue|\bperibronch\w*|\bband",
    _I,
)
_PLEUROPARENCHYMAL_RE = re.compile(_PLEUROPARENCHYMAL, _I)
# A density read as an active process ("density increases compatible with atelectasis or
# pneumonia") is an opacity whatever scar word lies beside it.
_INFECTIVE = re.compile(
    r"\bpneumon\w*|\binfect\w*|\binflammat\w*|\bcovid|\bviral\b|\bo?edema\w*", _I
)
# "density increases and atelectatic changes": a finding coordinated with the density (the two
# noun phrases joined by "and", a few modifiers apart) is a second finding, not what the
# density is.
_COORDINATION = re.compile(
    r"^\W*(?:[\w-]+\s+){0,1}?(?:and|as\s+well\s+as)\s+(?:[\w-]+\s+){0,2}$", _I
)


_RELATIVE = re.compile(r"\s*(?:which|that)\b", _I)


def _segment_span(sentence: str, start: int) -> tuple[int, int]:
    """The span of the comma-delimited piece of the sentence holding ``start``.

    A relative clause set off by a comma belongs to the noun before it ("density increases,
    which are evaluated in favour of sequelae, ..."), so the span runs through it.
    """
    for m in _SEGMENT.finditer(sentence):
        if m.start() <= start < m.end():
            low, high = m.span()
            nxt = _SEGMENT.search(sentence, high)
            if nxt is not None and _RELATIVE.match(nxt.group(0)):
                high = nxt.end()
            return low, high
    return 0, len(sentence)


# "consolidations evaluated in favour of pneumonic infiltration", "correlation in terms of
# infiltration": the infiltration names what another finding is, a diagnosis, not an opacity.
_COMPATIBLE = r"\b(?:compatible\s+with|consistent\s+with|suggestive\s+of|suggesting)"
_INTERPRETATION = re.compile(
    r"(?:" + _COMPATIBLE + r"|\bin\s+favou?r\s+of|\bin\s+terms\s+of|\bevaluated\s+as|"
    r"\bconsidered\s+as|\binterpreted\s+as)\s+(?:[\w-]+\s+){0,3}?$",
    _I,
)
# "linear density increases consistent with sequelae changes": what was seen is the density;
# the scar is only what the report finds it compatible with. A conclusion ("evaluated in
# favour of sequelae", "considered sequelae") says what the density is.
_READ_AS = re.compile(_COMPATIBLE + r"\b", _I)
# An opacity word before the interpretation: the interpreted finding is itself an opacity
# ("patchy densities compatible with infiltration").
_OPACITY_WORD = re.compile(r"\b(?:densit|opaci|ground|glass|attenuat|infiltrat)", _I)


def _is_diagnosis(sentence: str, start: int, end: int) -> bool:
    """An infiltration named only as the interpretation of a finding that is no opacity."""
    if not re.match(r"(?i)infiltrat", sentence[start:end]):
        return False
    cue = _INTERPRETATION.search(sentence[:start])
    return bool(cue) and not _OPACITY_WORD.search(sentence[: cue.start()])


def _is_parenchymal_opacity(sentence: str, start: int, end: int) -> bool:
    """A "density increase" is an opacity unless its segment calls it a scar, band or collapse.

    A scar word qualifies the density when nothing coordinates the two ("pleuroparenchymal
    sequelae density", "density increases, which are considered sequelae"); a finding joined
    by "and" is another finding beside it ("density increases and atelectatic changes"), and a
    scar offered only as what the density is compatible with is a reading of an opacity
    ("linear density increase consistent with band atelectasis", :func:`_read_as_scar_only`). A
    dependent density, or one read as infection or oedema, stays an opacity whatever lies
    beside it. An infiltration that only interprets another finding is a diagnosis
    (:func:`_is_diagnosis`).
    """
    phrase = sentence[start:end]
    if _is_diagnosis(sentence, start, end):
        return False
    if not re.search(r"(?i)densit", phrase) or re.match(r"(?i)dep[ae]nd", phrase):
        return True
    low, high = _segment_span(sentence, start)
    if _INFECTIVE.search(sentence, low, high):
        return True
    for m in _SCAR_DENSITY.finditer(sentence, low, high):
        between = sentence[m.end() : start] if m.end() <= start else sentence[end : m.start()]
        if m.start() >= end and _read_as_scar_only(sentence[end : m.end()]):
            continue
        if m.start() < end and m.end() > start or not _COORDINATION.match(between):
            return False
    return True


def _read_as_scar_only(after: str) -> bool:
    """Whether the scar word ending ``after`` is only the reading offered for a density.

    A pleuroparenchymal reading is no mere reading: the density is then the pleural-based scar
    of the apex or a fissure, which is not a parenchymal opacity ("density increases consistent
    with pleuroparenchymal sequelae").
    """
    return bool(_READ_AS.search(after)) and not _PLEUROPARENCHYMAL_RE.search(after)


def _ctr_increased(sentence: str, start: int, end: int) -> bool:
    """A cardiothoracic ratio/index mention says cardiomegaly only when called increased."""
    if not re.match(r"(?i)c(?:ardio-?thoracic|tr)", sentence[start:end]):
        return True
    return bool(re.search(r"(?i)\bincrease|\bhigh|\benlarg", sentence))


_ATHERO = (r"\bcalcif\w*", r"\batherom\w*", r"\batheroscl\w*", r"\bplaques?\b")
_ATHERO_EXCLUDE = (r"\blymph", r"\bnodul\w+", r"\bpleura\w*", r"\bgranulom\w*")
# Spellings seen in dictated reports: "efusion", "effussion".
_EFFUSION = r"(?:ef+us+ions?|fluid|ef+us+ion-thickening)"
# "thickening", "thickened" and the dictation misspellings "thickning", "thikening", "thickned";
# "thickness" apart, since a thickness is a measurement until something calls it increased.
_THICKENING = r"thic?k(?:en|n)(?!ess)\w*"
_THICKNESS = r"thic?kness\w*"
# A word between a finding's parts that is no negation: a mention never spans "not" ("septa
# are not thickened", "effusion is not seen in the pericardium"), so the scope rules see it.
_W = r"(?!(?:not|no|nor|without)\b)"
# Fluid and the cavity it lies in, a few words apart within one list item, with no other
# finding between them ("effusion with atelectasis near the pericardium" is not pericardial).
_FLUID_GAP = (
    _W + r"(?!(?:atelect|consolid|nodul|thicken|opacit|densit|calcif|lesion|mass\b|fat\b)\w*)"
)
_NEAR = r"\b(?:effusions?|fluid)\b(?:\s+" + _FLUID_GAP + r"[\w()-]+){0,10}?\s+"
# "pericardial" that names the sac, not another structure ("pericardial fat", "pericardial
# thickening").
_PERICARDIAL_SAC = (
    r"pericardi(?:um|ac|al(?!\s+(?!space|area|cavity|sac|sinus|leaves|layers|region|level|"
    r"recess)[a-z]))\w*"
)

_LYMPH_TERMS = (
    r"\blymphadenopath\w*|\badenopath\w*|\blymphadenomegal\w*|\bLAPs?\b",
    r"\b(?:enlarged|pathological|pathologic|pathologically enlarged|conglomerat\w+|"
    r"bulky|enlarging)\s+(?:\w+\s+){0,3}?(?:lymph\s+)?nodes?\b",
    # "lymph nodes that did not reach pathological size were observed": nodes present.
    r"\blymph\s+nodes?\b[^.;]{0,60}?\b(?:(?:did|does|do)\s+)?not\s+(?:reach\w*|exceed\w*)\s+"
    r"(?:the\s+)?(?:pathologic\w*\s+(?:size|sizes|dimensions?)|\d+(?:\.\d+)?\s*(?:mm|cm))",
    r"\blymph\s+nodes?\b(?!\s+stations?)",
)
_LYMPH_EXCLUDE = (
    r"\b(?:intrapulmonary|intraparenchymal|subpleural|perifissural|fissural|intramammary)"
    r"\s+lymph",
    r"\bbreast\b",
)
# Abdominal and pelvic nodes are outside a chest CT's lymphadenopathy, unless the same sentence
# also names a thoracic station.
_ABDOMINAL_NODES = re.compile(
    r"\b(?:intra-?abdominal|abdominal|retroperitoneal|mesenter\w*|meso|para-?aortic|pelvic|"
    r"inguinal|iliac|perigastric|celiac|periportal|peripancreatic|splenic|spleen|"
    r"(?:peri)?colonic|colon|sigmoid)\b",
    _I,
)
_THORACIC_NODES = re.compile(
    r"\b(?:mediastin\w*|hil(?:ar|um|us)|paratracheal|pretracheal|subcarinal|axilla\w*|"
    r"supraclavicular|infraclavicular|prevascular|aortopulmonary|paraesophageal|paracardiac|"
    r"cardiophrenic|internal\s+mammary|thora\w*|retrocrural)\b",
    _I,
)


_ORGAN_HILUM = re.compile(r"\b(?:spleen|splenic|renal|kidney|hepatic|liver)\s+hil\w*", _I)


def _is_thoracic_node(sentence: str, start: int, end: int) -> bool:
    if not _ABDOMINAL_NODES.search(sentence):
        return True
    return bool(_THORACIC_NODES.search(_ORGAN_HILUM.sub(" ", sentence)))


# CT-RATE convention: any lymph node the report says is there counts, whatever its size.
_LYMPH_ANY = FindingRule(
    task="Lymphadenopathy", terms=_LYMPH_TERMS, exclude=_LYMPH_EXCLUDE, context=_is_thoracic_node
)
# Radiological convention: nodes described below pathological size state the finding is absent.
LYMPH_PATHOLOGICAL = FindingRule(
    task="Lymphadenopathy",
    terms=_LYMPH_TERMS,
    exclude=_LYMPH_EXCLUDE,
    context=_is_thoracic_node,
    normal=(
        r"\blymph\s+nodes?\b[^.]{0,60}?\b(?:not?\s+(?:reach\w*|reaching)|non-?pathologic\w*|"
        r"below\s+(?:the\s+)?pathologic\w*|did\s+not\s+reach|not\s+in\s+pathologic\w*|"
        r"normal\s+(?:size|sizes|dimensions)|within\s+normal\s+limits|less\s+than\s+1\s*cm|"
        r"smaller\s+than\s+1\s*cm|<\s*1\s*cm|<\s*10\s*mm|fatty\s+hil\w+)",
        r"\b(?:non-?pathologic\w*|normal[- ]sized?|subcentimetric|sub-centimetric|millimetric|"
        r"millimeter-sized|small|tiny|reactive)\s+(?:\w+\s+)?(?:lymph\s+)?nodes?",
    ),
)

# A word that names another finding or structure: a thickening beyond it belongs to that one.
_NOT_OTHER_FINDING = r"(?!\w*sept|pleur|glass|densit|nodul|opacit|consolid)"
# "peribronchial", "peri-bronchial", "peribronchovascular".
_PERIBRONCH = r"\bperi[- ]?bronch\w*"
_PERIBRONCHIAL_TERMS = (
    # "peribronchial diffuse mild increase in thickness", "thickening ... along the
    # peribronchial sheath": the thickening and the peribronchial site in one clause, with no
    # other finding between them ("peribronchial area and interlobular septal thickenings").
    _PERIBRONCH + r"(?:\s+(?!and\b|or\b)" + _W + _NOT_OTHER_FINDING + r"[\w-]+){0,5}?\s+"
    r"(?:" + _THICKENING + "|" + _THICKNESS + ")",
    r"\b(?:" + _THICKENING + "|" + _THICKNESS + r")\s+(?:" + _W + _NOT_OTHER_FINDING
    + r"[\w-]+\s+){0,8}?" + _PERIBRONCH,
    _PERIBRONCH + r"\s+(?:cuffing|infiltrat\w*)",
    # Coordinated modifiers of one thickening: "peribronchial and interlobular septal
    # thickening", "peribronchial, interstitial and pleural thickening".
    _PERIBRONCH + r"\s*(?:,|/|\band\b|\bor\b)\s*(?:inter|intra)?(?:lobular\s+)?"
    r"(?:septal|interstitial|bronchial(?:\s+wall)?)(?:\s*(?:,|\band\b|\bor\b)\s*"
    r"(?:" + _W + r"[\w-]+\s+){0,2}?|\s+)" + _THICKENING,
    # The bronchovascular bundle is the peribronchovascular interstitium with its bronchus and
    # artery: its thickening is the same finding ("thickened bronchovascular bundles").
    r"\bbronchovascular\s+(?:bundles?|interstiti\w*)\s+(?:" + _W + r"\w+\s+){0,2}?" + _THICKENING,
    r"\b" + _THICKENING + r"\s+(?:of\s+)?(?:the\s+)?(?:\w+\s+)?bronchovascular\s+"
    r"(?:bundles?|interstiti\w*)",
)
# CT-RATE convention: only peribronchial wording counts ("bronchial wall thickening" alone is
# labelled absent by CT-RATE's annotators).
_PERIBRONCHIAL_CTRATE = FindingRule(task="Peribronchial thickening", terms=_PERIBRONCHIAL_TERMS)
# Catalogue definition (hyperct.tasks): bronchial wall thickening counts as well.
PERIBRONCHIAL_CATALOGUE = FindingRule(
    task="Peribronchial thickening",
    terms=(
        *_PERIBRONCHIAL_TERMS,
        r"\bbronch\w*\s+walls?\s+(?:" + _W + r"\w+\s+){0,2}?(?:thicken\w*|thickness\s+increase\w*)",
        r"\b(?:thicken\w*|thickness\s+increase\w*)\s+(?:of\s+)?(?:the\s+)?(?:\w+\s+)?"
        r"bronch\w*\s+walls?",
        r"\bincrease\w*\s+(?:in\s+)?(?:the\s+)?(?:\w+\s+)?bronch\w*\s+wall\s+thickness",
    ),
)

RULES: tuple[FindingRule, ...] = (
    FindingRule(
        task="Medical material",
        terms=(
            r"\b(?:surgical\s+)?clips?\b",
            r"\bsutures?\b",
            r"\b(?:surgical|operation|operative|postoperative|foreign|metallic|suture|fixation)\s+"
            r"materials?",
            r"\bsternal\s+(?:wires?|sutures?|cerclage)|\bsternotomy\s+wires?|\bwires?\b",
            # Spinal or fracture fixation hardware ("internal fixator between L4 and S1").
            r"\bfixators?\b",
            r"\bstents?\b",
            r"\bcatheters?\b|\bport\b",
            r"\bpace\s?makers?\b|\bdefibrillator|\bICD\b|\bCRT-?D\b",
            r"\b(?:pacemaker|cardiac|pacing)\s+(?:leads?|electrodes?)|\belectrodes?\b",
            r"\bprosthe\w+",
            r"\b(?:endotracheal|tracheostomy|chest|thoracostomy|nasogastric|feeding|drainage|"
            r"tracheal|gastrostomy)\s+(?:tubes?|cannula)",
            r"\btracheostomy\b|\bintubat\w+|\bcannula\w*",
            r"\bdrains?\b",
            r"\bcoils?\b",
            r"\bmetallic\b",
            r"\bstaples?\b",
            r"\bsurgical\s+mesh\b",
            r"\bscrews?\b",
            r"\bvalve\s+replacement|\bprosthetic\s+valve|\bmechanical\s+valve",
            r"\bcerclage\w*",
            r"\bbypass\s+grafts?",
            r"\boccluder\b",
        ),
        exclude=(r"\bcontrast\b", r"\bmetallic\s+artifact", r"\bbone\s+graft"),
    ),
    FindingRule(
        task="Arterial wall calcification",
        terms=_ATHERO,
        context=_is_arterial,
        exclude=_ATHERO_EXCLUDE,
    ),
    FindingRule(
        task="Cardiomegaly",
        terms=(
            r"\bcardiomegal\w*",
            r"\bcardiac\s+enlargement|\benlargement\s+of\s+the\s+heart",
            r"\b(?:heart|cardiac)\s+(?:contour\s+and\s+|contours\s+and\s+)?"
            r"(?:size|sizes|dimensions?|volume|silhouette|shadow)\s+"
            r"(?:is\s+|are\s+|was\s+|were\s+|has\s+|have\s+)?(?:(?!not\b|no\b)\w+\s+)?"
            r"(?:increased|enlarged|large|larger)",
            r"\b(?:increased|enlarged)\s+(?:heart|cardiac)\b(?:\s+(?:size|dimensions?|volume))?",
            r"\bheart\s+(?:is|was|appears)\s+(?:(?!not\b|no\b)\w+\s+)?"
            r"(?:enlarged|larger than normal)",
            r"\bincrease\s+in\s+(?:the\s+)?(?:heart|cardiac)\s+(?:size|dimensions?|volume)",
            r"\b(?:cardiothoracic|cardio-thoracic)\s+(?:ratio|index)\b",
            r"\bCTR\b",
        ),
        normal=(
            r"\b(?:heart|cardiac)\b[\w\s,-]{0,25}\b(?:size|sizes|dimensions?|volume)\b[\w\s,]{0,20}?"
            r"\b(?:is|are|was|were|appear|appears)\s+(?:\w+\s+)?(?:normal|natural|preserved|"
            r"within normal limits)",
            r"\bnormal\s+(?:heart|cardiac)\s+(?:size|dimensions)",
            r"\bheart\s+(?:is|appears)\s+(?:\w+\s+)?normal\s+in\s+size",
            r"\b(?:heart|cardiac)\s+(?:size\s+)?(?:is|was|appears)\s+not\s+(?:increased|enlarged)",
            r"\b(?:cardiothoracic\s+(?:ratio|index)|CTR)\b[\w\s,]{0,20}?\b(?:is|are|was|were|"
            r"appears?)\s+(?:\w+\s+)?(?:normal|natural|preserved|within normal limits)",
        ),
        context=_ctr_increased,
    ),
    FindingRule(
        task="Pericardial effusion",
        terms=(
            r"\bpericardial(?:\s*(?:,|and|or|/|-)\s*(?:and\s+|or\s+)?pleural)?[\s-]+"
            r"(?:[\w-]+\s+)?" + _EFFUSION,
            r"\bpleural\s*(?:,|and|or|/|-)\s*(?:and\s+|or\s+)?pericardial[\s-]+" + _EFFUSION,
            _NEAR + r"(?:" + _FLUID_GAP + r"\w+\s+){0,3}?" + _PERICARDIAL_SAC,
            r"\bpericardial\s+(?:space|sinus)\s+(?:" + _W + r"\w+\s+){0,3}" + _EFFUSION,
            # "pericardial thickening and effusion": effusion coordinated with another
            # pericardial word; "pericardial thickening" alone is not an effusion.
            # "pericardial thickening without effusion" is not one.
            r"\bpericardial\s+(?:" + _THICKENING + "|" + _THICKNESS + r")\s*"
            r"(?:\b(?:and|or|with)\b|/|-)\s*(?:\w+\s+)?" + _EFFUSION,
            # Water or blood in the pericardial sac.
            r"\bhydropericardi\w*|\bha?emopericardi\w*",
        ),
        # A physiological amount of pericardial fluid is the normal content of the sac, and
        # the pericardial recesses (superior, aortic) hold some of it in most people: fluid
        # seen only in a recess is no effusion.
        normal=(
            _EFFUSION + r"\s+(?:(?:is|are|was|were)\s+)?(?:\w+\s+)?(?:in|within|at|of)\s+"
            r"(?:the\s+)?(?:[\w-]+\s+){0,3}?recess\w*",
            r"\brecess\w*\s+" + _EFFUSION,
            r"\bphysiolog\w*\s+(?:\w+\s+){0,3}?(?:of\s+)?(?:the\s+)?pericardial\s+"
            + _EFFUSION,
            r"\bpericardial\s+" + _EFFUSION + r"\b[^.;]{0,40}?\b(?:physiolog\w*|normal\s+limits)",
        ),
    ),
    FindingRule(
        task="Coronary artery wall calcification",
        terms=_ATHERO,
        context=_is_coronary,
        exclude=_ATHERO_EXCLUDE,
    ),
    FindingRule(
        task="Hiatal hernia",
        terms=(
            r"\bhiat\w*\s+(?:\w+\s+)?hernia\w*",
            r"\bhernia\w*\s+(?:\w+\s+){0,4}(?:esophageal\s+)?hiatus",
            # A hernia at the junction of oesophagus and stomach passes through the hiatus.
            r"\bhernia\w*\s+(?:" + _W + r"[\w-]+\s+){0,12}?(?:o?esophago-?gastric|"
            r"gastro-?o?esophageal)\s+junction",
            r"\bpara-?o?esophageal\s+hernia\w*",
            r"\bsliding(?:\s+type)?\s+hernia\w*",
            r"\bherniat\w+\s+of\s+(?:the\s+)?stomach",
            r"\b(?:stomach|gastric)\s+(?:\w+\s+){0,3}herniat\w+",
        ),
    ),
    _LYMPH_ANY,
    FindingRule(
        task="Emphysema",
        terms=(
            r"\bemphysem\w*|\bemphsem\w*",
            r"\bbulla\w*|\bbullous\b|\bblebs?\b",
        ),
        exclude=(
            r"\bsubcutaneous\s+emphysem\w*",
            r"\bmediastinal\s+emphysem\w*",
            r"\bemphysem\w*\s+(?:\w+\s+){0,4}(?:under\s+the\s+skin|subcutaneous|soft\s+tissue)",
        ),
    ),
    FindingRule(
        task="Atelectasis",
        terms=(
            # "atelectasis" and the dictation spellings "atalectasis", "atlectasis".
            r"\bat[ea]?lect[ae]\w*|\bdystelecta\w*",
            r"\b(?:lobar|lung|lobe|segmental)\s+collapse|\bcollapsed?\s+(?:lung|lobe|segment)",
            # "the middle lobe is collapsed", not "the lung is not collapsed".
            r"\b(?:lung|lobes?|segments?|lingula)\s+(?:is|are|was|were|appears?|remains?)\s+"
            r"(?:" + _W + r"\w+\s+)?collapsed\b",
        ),
        exclude=(r"\bfibro\w*[\s-]+at[ea]lect\w*",),
    ),
    FindingRule(
        task="Lung nodule",
        terms=(
            r"\bnodules?\b",
            r"\bmicronodul\w*",
            r"\bnodular\s+(?:(?:or|and|/)\s+\w+\s+)?(?:lesions?|formations?|appearances?|"
            r"densit\w*|pattern)",
        ),
        exclude=(
            _NOT_IN_LUNG,
            r"\bpleura\w*\s+(?:\w+\s+)?thicken",
            # A nodule of the pleura is a pleural lesion ("subpleural" nodules are the lung's).
            r"\bpleural\s+nodul\w*|"
            r"\bnodul\w*(?:\s+[^\s,;]+){0,3}\s+(?:in|on|along)\s+the\s+pleura\b",
            r"\bcentri\w*acinar|\bcentrilobular|\btree|\bbud\w*\b",
            r"\bhypodense\b",
            r"\bnodular\s+goiter",
        ),
    ),
    FindingRule(
        task="Lung opacity",
        terms=(
            # "opacity", "opacification", "opacified lobe".
            r"(?<!nodular )\bopaci(?:t|fi)\w*",
            # Translations of the ground-glass pattern: frosted, matte, icy glass.
            r"\bground[- ]?glass\w*(?![\s-]+(?:\w+\s+)?nodul)|\bGGOs?\b|"
            r"\b(?:frosted|matte?)\s+glass|"
            r"\bicy\s+(?:glass\s+)?densit\w*",
            # Gravity-dependent opacity of the posterior lung ("dependent density increases").
            r"\bdep[ae]nd[ae]nt\s+(?:\w+\s+)?(?:densit\w*|opacit\w*)",
            r"(?<!nodular )\binfiltrat\w*",
            r"\b(?:increased|increase\s+in|increases\s+in|increasing)\s+(?:\w+\s+){0,2}densit\w*",
            r"\bdensit(?:y|ies)\s+increase\w*",
            # A linear density is a linear opacity (a scar only when the report says so).
            r"\blinear\s+densit(?:y|ies)\b",
            r"\b(?:increased|increase\s+in)\s+(?:\w+\s+)?attenuation\b|\battenuation\s+increase\w*",
        ),
        # "metastasis has infiltration into the kidney": invasion of a structure, not an infiltrate.
        # Contrast opacifies vessels and cardiac chambers ("good opacification of the pulmonary
        # arteries"): that is no lung opacity.
        exclude=(
            _NOT_IN_LUNG,
            r"\bactive\s+infiltrat\w*",
            r"\binfiltrat\w*\s+into\b",
            # Tumour spreading into a tissue is invasion, not an infiltrate of the lung.
            r"\b(?:malignan\w*|tumou?r\w*|neoplastic|perineural|lymphomatous|leuka?emic)\s+"
            r"infiltrat\w*",
            # "the infiltrative character of the lesion": how a mass grows, not an infiltrate.
            r"\binfiltrativ\w*\s+(?:character|nature|growth|margins?|borders?|contours?)\b",
            r"\bcontrast\b[^.;]{0,40}\bopacifi\w*|\bopacifi\w*\s+(?:of\s+)?(?:the\s+)?(?:\w+\s+){0,2}?"
            r"(?:arter\w*|vessels?|veins?|aort\w*|vascular|trunk|chambers?|ventric\w*|atri\w*)"
            r"|\b(?:arter\w*|vessels?|veins?|aort\w*|vascular)\s+(?:\w+\s+){0,2}?opacifi\w*",
        ),
        context=_is_parenchymal_opacity,
    ),
    FindingRule(
        task="Pulmonary fibrotic sequela",
        terms=(
            r"\bfibro\w*",
            r"\bsequel\w*",
            r"\bscar\w*\b|\bcicatri\w*",
            r"\breticula\w*",
            # Subpleural, linear and parenchymal bands are scars (band atelectasis is a
            # collapse); honeycombing is an active interstitial disease, not the sequela of one
            # (CT-RATE does not count it).
            r"\bbands?\b(?![\s-]+atelect)|\bband-like\b",
            # A density, band or retraction where pleura and lung meet is the pleuroparenchymal
            # scar of an apex or a fissure ("pleuroparenchymal density increases", "recession"
            # for retraction in translated reports).
            r"(?:" + _PLEUROPARENCHYMAL + r")\s+(?:[\w-]+\s+){0,2}?(?:densit\w*|opacit\w*|"
            r"bands?|recess\w*|retract\w*|lines?)\b",
        ),
        # Idiopathic pulmonary fibrosis is a progressive interstitial disease, not the sequela
        # of one (as honeycombing is not).
        exclude=(
            r"\bidiopathic\s+pulmonary\s+fibros\w*|\bIPF\b",
            r"\bfibroadenom\w*|\bfibrous\s+dysplasia|\bfibroids?\b|\bfibroma\w*|\bfibromatos\w*",
            r"\bsequel\w*\s+(?:of|to|after)\s+(?:the\s+)?(?:fracture|surgery|operation)",
            _NOT_IN_LUNG,
            r"\blymph\s+nod",
        ),
    ),
    FindingRule(
        task="Pleural effusion",
        terms=(
            r"\bpleural(?:\s*(?:,|and|or|/|-)\s*(?:and\s+|or\s+)?pericardial)?[\s-]+"
            r"(?:\w+\s+)?" + _EFFUSION,
            r"\bpericardial\s*(?:,|and|or|/|-)\s*(?:and\s+|or\s+)?pleural[\s-]+" + _EFFUSION,
            # Not "pleural thickening" or "pleural plaque" beside an effusion named elsewhere.
            _NEAR + r"(?:" + _FLUID_GAP + r"\w+\s+){0,3}?(?:hemithora\w*|pleura\w*\b"
            r"(?!\s+(?:thicken|calcif|plaque|nodul|mass|lesion|based|retract)\w*))",
            r"\bhydrothora\w*",
            # A sided effusion is pleural: the pericardium has no sides ("bilateral effusion").
            r"\b(?:bilateral|both[- ]sided|right[- ]sided|left[- ]sided)\s+"
            r"(?:(?!pleura|pericard)[\w-]+\s+){0,4}?effusions?\b",
        ),
    ),
    FindingRule(
        task="Mosaic attenuation pattern",
        terms=(r"\bmosai\w*",),
    ),
    _PERIBRONCHIAL_CTRATE,
    FindingRule(
        task="Consolidation",
        # "ground-glass consolidation" is a ground-glass opacity: the density a consolidation
        # has is what ground glass lacks.
        terms=(r"(?<!glass )(?<!glass-)\bconsolidat\w*",),
    ),
    FindingRule(
        task="Bronchiectasis",
        terms=(
            r"\bbronch[io]*ectas\w*|\bbronchiectatic\b|\bbronchiolectas\w*",
            r"\bbronchial\s+ectasi\w*|\bectasi\w*\s+(?:of|in)\s+(?:the\s+)?bronch\w*",
            r"\b(?:dilated|dilatation\s+of\s+(?:the\s+)?)\s*bronch\w*",
            r"\bbronch\w*\s+dilat\w*",
        ),
    ),
    FindingRule(
        task="Interlobular septal thickening",
        terms=(
            # "septal and interstitial thickening", "septal thickenings"; not "paraseptal
            # emphysema" nor a "septated" effusion beside a pleural thickening.
            r"\b(?!para)\w*sept(?!at)\w*\s+(?:(?!pleur)" + _W + r"[\w-]+\s+){0,3}?(?:"
            + _THICKENING + "|"
            + _THICKNESS + ")",
            # "septa" and its hypercorrect plural "septae".
            r"\b" + _THICKENING + r"\s+(?:of\s+)?(?:the\s+)?(?:" + _W + r"[\w-]+\s+){0,4}?"
            r"(?:interlobular\s+)?septae?\b",
            # "prominent interlobular septa", "interlobular septal clarification" (prominence)
            r"\bprominen\w*\s+(?:(?:of|in)\s+)?(?:the\s+)?(?:\w+\s+){0,2}?interlobular\s+sept\w*|"
            r"\binterlobular\s+sept\w*\s+(?:(?:is|are|was|were|appears?|became|become)\s+"
            r"(?:" + _W + r"\w+\s+)?)?(?:prominen\w*|clarification|accentuat\w*)",
            # Thickened lung interstitium: CT-RATE counts it as septal thickening.
            r"\binterstiti\w*\s+(?:" + _W + r"\w+\s+)?" + _THICKENING,
            r"\b" + _THICKENING + r"\s+(?:of|in)\s+(?:the\s+)?(?:[\w-]+\s+)?interstitium\b",
            r"\bkerley\b|\bseptal\s+lines?\b",
        ),
        exclude=(r"\b(?:inter)?(?:atrial|ventricular)\s+sept\w*|\bnasal\s+sept\w*",),
    ),
)

RULES_BY_TASK: dict[str, FindingRule] = {r.task: r for r in RULES}


CONVENTIONS = ("ctrate", "catalogue")


def rules_for(convention: str = "ctrate") -> tuple[FindingRule, ...]:
    """The rule set of a labelling convention.

    "ctrate": as CT-RATE's annotators label (any lymph node the report says is there counts as
    lymphadenopathy; only peribronchial wording counts as peribronchial thickening).
    "catalogue": as the definitions in :mod:`hyperct.tasks` read (only nodes of pathological size;
    bronchial wall thickening counts as peribronchial thickening).
    """
    if convention == "ctrate":
        return RULES
    if convention == "catalogue":
        swap = {
            "Lymphadenopathy": LYMPH_PATHOLOGICAL,
            "Peribronchial thickening": PERIBRONCHIAL_CATALOGUE,
        }
        return tuple(swap.get(r.task, r) for r in RULES)
    raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")


def _check_catalogue() -> None:
    names = sorted(t.name for t in CONVENTIONAL)
    for convention in CONVENTIONS:
        if sorted(r.task for r in rules_for(convention)) != names:
            raise RuntimeError(
                f"the {convention!r} rules must cover exactly the 18 conventional tasks"
            )


_check_catalogue()
