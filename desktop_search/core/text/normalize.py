"""Text normalisation shared by what is stored and what is asked, so that both meet in the same form.

Two forms:
- `exact(text)`: Unicode NFKC (full-width letters and digits become ASCII), case folded, accents removed
  (é → e, ß → ss), runs of spaces and punctuation become one space. A quoted phrase is matched in this form.
- `loose(text)`: `exact` with the characters a text recogniser confuses mapped to one (0/O/o → o;
  1/l/I/i/| → l; 5/S → s; 8/B → b; 2/Z → z; 6/G → g; rn → m; a doubled letter → one) and spaces and
  punctuation removed, so that "RE16"
  and "re 16" and "REl6" meet, and "miramar" is inside "HOTELMIRAMAR". Chinese and Japanese characters
  pass through (they are letters), and have no spaces to lose.

`query_terms(query)` splits a query into the terms a text search looks for: quoted phrases (exact form)
and words (loose form), without the common words that carry no text to look for ("the", "on", "of").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# The recogniser's usual confusions, after case folding: each class becomes its first character.
_CONFUSIONS = {
    "0": "o",
    "1": "l", "i": "l", "|": "l", "!": "l", "ı": "l",
    "5": "s",
    "8": "b",
    "2": "z",
    "6": "g",
}
_CONFUSION_TABLE = str.maketrans(_CONFUSIONS)

# Words a query uses to describe, never as text to find (English, with German/French/Spanish articles).
STOPWORDS = frozenset(
    ["a", "an", "the", "of", "on", "in", "at", "to", "for", "from", "with", "and", "or", "by", "is", "are", "was", "were", "be", "as", "it", "its", "this", "that", "these", "those", "into", "onto", "over", "under", "near", "up", "down", "out", "off", "my", "your", "our", "their", "his", "her", "some", "any", "no", "not", "photo", "photos", "picture", "pictures", "image", "images", "der", "die", "das", "und", "ein", "eine", "le", "la", "les", "des", "un", "une", "el", "los", "las", "y"]
)


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x3040 <= o <= 0x30FF  # kana
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xAC00 <= o <= 0xD7AF  # hangul
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x2FFFF
    )


def exact(text: str) -> str:
    """Case, width and accents folded; every run of non-letters/digits one space."""
    t = _strip_accents(unicodedata.normalize("NFKC", text).casefold())
    # NFD then drop marks can leave compatibility forms: recompose what is left
    t = unicodedata.normalize("NFC", t)
    out = []
    space = False
    for ch in t:
        if ch.isalnum():
            out.append(ch)
            space = False
        elif not space:
            out.append(" ")
            space = True
    return "".join(out).strip()


_DOUBLE = re.compile(r"(.)\1+")


def loose(text: str) -> str:
    """`exact` with OCR confusions folded and no spaces or punctuation.

    Also folded: "rn" → "m" (the classic confusion), and a doubled letter → one (a CTC recogniser often
    reads "dd" as "d": "Weding" for "Wedding")."""
    t = exact(text).replace(" ", "").translate(_CONFUSION_TABLE).replace("rn", "m")
    return _DOUBLE.sub(r"\1", t)


@dataclass(frozen=True)
class Term:
    text: str  # in the form it is matched in: exact for a phrase, loose for a word
    phrase: bool  # a quoted phrase: matched exactly (case and accents forgiven)
    weight: float  # how much finding it counts (longer words count more)
    plain: str = ""  # a word's form before the OCR confusions were folded (exact, no spaces)


_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|«([^»]+)»|「([^」]+)」')


def query_terms(query: str) -> list[Term]:
    """The terms of a query: quoted phrases, then the words outside quotes, without stop words."""
    terms: list[Term] = []
    seen: set[tuple[str, bool]] = set()

    def add(text: str, phrase: bool, plain: str = "") -> None:
        if not text or (text, phrase) in seen:
            return
        seen.add((text, phrase))
        # a CJK character carries about as much as three Latin letters
        n = sum(3 if is_cjk(c) else 1 for c in text)
        terms.append(Term(text, phrase, float(min(n, 12)), plain or text))

    rest = []
    last = 0
    for m in _QUOTED.finditer(query):
        rest.append(query[last:m.start()])
        last = m.end()
        add(exact(next(g for g in m.groups() if g is not None)), True)
    rest.append(query[last:])
    for word in " ".join(rest).split():
        folded = exact(word)
        if not folded or folded in STOPWORDS:
            continue
        # one word, punctuation and all ("wi-fi", "B-12"): its letters and digits together
        lo = loose(word)
        # a lone Latin letter or digit finds everything: not a term
        if len(lo) < 2 and not any(is_cjk(c) for c in lo):
            continue
        add(lo, False, folded.replace(" ", ""))
    return terms
