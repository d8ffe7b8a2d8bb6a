"""Is a report written in English? A small word-share detector, no model and no dependency.

The rules labeler's lexicon and negation cues are English: a German "Kein Emphysem" would be
read as emphysema present. English prose is about a third function words ("no", "the", "of",
"is", "with"), and English radiology has words of its own ("lung", "left", "thickening"); other
European languages have their own function words ("kein", "der", "pas", "sin", "yok") and
letters English does not use (ü, é, ş). A report is taken as English when its English words
outnumber its other-language words; a report with no evidence either way (a lone
"Emphysema.") is taken as English, a long one with almost no English word is not.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_ENGLISH = frozenset(
    """
    a an the and or nor but of in on at to from by with without within for as into onto than
    that this these those there here which who whose what when where while both either neither
    is are was were be been being has have had do does did can could may might will would
    shall should must not no none any some all each every other another its it they their them
    also only more most less least very much many few such same up down out over under between
    after before during above below near since until about against along around behind beside
    beyond through throughout toward towards upon via seen observed noted detected identified
    evident visible present absent increased decreased enlarged thickening thickened wall walls
    lung lungs left right upper lower middle lobe lobes heart chest size sized findings
    finding appearance appears appear compatible consistent evaluated examination scan
    images image section sections level levels trachea airways airway bilateral bilaterally
    mild mildly minimal slight slightly small smaller large larger significant marked
    """.split()
)
_OTHER = frozenset(
    """
    kein keine keinen keiner nicht und der die das den dem des mit ohne bei beidseits links
    rechts ist sind wird werden kein hinweis auf oder im zum zur vom eine einer ein unauffällig
    regelrecht lunge herz befund beurteilung
    pas de du des les le la et avec sans dans est sont une un aucun aucune poumon droit gauche
    sur par pour signe
    sin con los las el del y en es son una hay ni se que por para derecho izquierdo pulmón
    signos sugestivo
    yok ve bir ile izlenmedi izlendi saptanmadı saptandı mevcut olarak için sağ sol akciğer
    bulgu bulgusu görünüm normaldir izlenmemiştir
    della dei delle nel nella sono polmone assenza
    geen het een niet van met zijn
    """.split()
)
_TOKEN = re.compile(r"[^\W\d_]+")
#: Reports with at least this many words need this share of English words to count as English.
MIN_WORDS_FOR_SHARE = 8
MIN_ENGLISH_SHARE = 0.1


@dataclass(frozen=True)
class LanguageCheck:
    """Word counts behind the decision and the decision itself."""

    english: bool
    words: int
    english_words: int
    other_words: int

    def describe(self) -> str:
        return (
            f"{self.english_words} of {self.words} words are English, "
            f"{self.other_words} belong to other languages"
        )


def _non_english_letters(word: str) -> bool:
    return any(not ("a" <= ch <= "z") for ch in word)


def check_language(text: str) -> LanguageCheck:
    """Count English and other-language evidence in ``text`` and decide whether it is English.

    A word counts for another language when it is one of that language's function words or has
    a letter outside a-z (accents, other scripts).
    """
    words = [unicodedata.normalize("NFC", w) for w in _TOKEN.findall(str(text).lower())]
    english = sum(w in _ENGLISH for w in words)
    other = sum(w not in _ENGLISH and (w in _OTHER or _non_english_letters(w)) for w in words)
    is_english = (other == 0 or other < english) and not (
        len(words) >= MIN_WORDS_FOR_SHARE and english < MIN_ENGLISH_SHARE * len(words)
    )
    return LanguageCheck(is_english, len(words), english, other)
