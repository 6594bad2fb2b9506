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


FOLDERS = {"name": fold_name, "email": fold_email, "phone": fold_phone, "exact": lambda v: v}
