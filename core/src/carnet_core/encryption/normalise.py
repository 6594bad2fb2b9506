"""Normalisation of values before blind indexing, so that equal-looking inputs match."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_NAME_PUNCT = str.maketrans({"’": "'", "‘": "'", "‐": "-", "‑": "-", "–": "-", "—": "-"})


def fold_name(value: str) -> str:
    """Lowercase, trimmed, accents folded, inner spaces collapsed: "  Lefèvre-DURAND " -> "lefevre-durand"."""
    decomposed = unicodedata.normalize("NFKD", value.translate(_NAME_PUNCT))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = stripped.replace("ß", "ss").replace("æ", "ae").replace("Æ", "ae").replace("œ", "oe").replace("Œ", "oe")
    return _SPACES.sub(" ", stripped).strip().casefold()


def fold_email(value: str) -> str:
    return value.strip().lower()


def fold_phone(value: str) -> str:
    """Digits only (an E.164 number without its '+')."""
    return "".join(ch for ch in value if ch.isdigit())


_WORD_BREAK = re.compile(r"[\W_]+")
SHORTEST_PREFIX = 2  # one letter would match most of a clinic's patients: no index, no search
LONGEST_PREFIX = 12  # longer words are indexed (and searched) by their first 12 letters


def name_words(value: str) -> list[str]:
    """The words of a name as prefix search sees them: folded (`fold_name`), split on anything
    that is not a letter or a digit ("Lefèvre-Durand" -> ["lefevre", "durand"], "N'Diaye" ->
    ["n", "diaye"])."""
    return [w for w in _WORD_BREAK.split(fold_name(value)) if w]


def name_prefixes(*names: str) -> set[str]:
    """Every prefix of SHORTEST_PREFIX to LONGEST_PREFIX letters of each word of the names, and of
    each name's words written together ("de la Tour" is also found by "delat"). Last and first
    names share one set: a search by the first letters finds either."""
    found: set[str] = set()
    for name in names:
        words = name_words(name or "")
        for word in (*words, "".join(words)):
            found.update(word[:n] for n in range(SHORTEST_PREFIX, min(len(word), LONGEST_PREFIX) + 1))
    return found


FOLDERS = {"name": fold_name, "email": fold_email, "phone": fold_phone, "exact": lambda v: v}
