"""Bounds every input of core and the plugins shares: ids and offsets, JSON nesting, free text, dates.

One place decides what the platform accepts, so that a value outside these bounds is answered with a
clear 4xx at the edge and never reaches the database or date arithmetic (where it would raise an
OverflowError, a PostgreSQL "integer out of range" or a "string cannot contain NUL" as a 500).

- `Id`, `Offset`: integers for ids and list offsets, for pydantic models, msgspec structs and Litestar
  query parameters alike (the constraint is declared in the OpenAPI document too). An id beyond
  `MAX_ID` names nothing (PostgreSQL `integer` keys stop there); the guard in
  `carnet_core.web.limits` answers 404 for such a path parameter.
- `MAX_JSON_DEPTH`: the request body decoder refuses deeper JSON (see `carnet_core.web.limits`).
- `text_problem` / `check_text`: the one free-text validator (no NUL or other control characters but
  tab and line breaks, no bidirectional overrides, at least one visible character, combining marks
  capped). `FreeText` / `OptionalText` apply it to pydantic fields.
- `EARLIEST` / `LATEST`, `check_moment`, `check_day`: dates far from the ends of Python's calendar, so
  adding a duration or a few weeks to an accepted value cannot overflow. `Moment` / `Day` apply them
  to pydantic fields.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

import annotated_types as at
import msgspec
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from carnet_core.i18n import N_

MAX_ID = 2**31 - 1
"""The largest id: PostgreSQL `integer` primary keys (and SQLite's 64-bit ones) hold every id up to it."""
MAX_OFFSET = MAX_ID
MAX_JSON_DEPTH = 32
"""Arrays and objects nested deeper than this are refused before decoding (no Carnet body needs 5)."""
MAX_COMBINING_RUN = 6
"""Combining marks allowed in a row on one character (Vietnamese, Hebrew with points need 2 to 4)."""

Id = Annotated[int, at.Interval(ge=1, le=MAX_ID), msgspec.Meta(ge=1, le=MAX_ID)]
Offset = Annotated[int, at.Interval(ge=0, le=MAX_OFFSET), msgspec.Meta(ge=0, le=MAX_OFFSET)]


def id_in_range(value: int) -> bool:
    return 1 <= value <= MAX_ID


# --- free text -----------------------------------------------------------------------------------

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True)
class TextProblem:
    """What is wrong with a text: a stable `code` for programs and an English msgid (translated
    where it is shown)."""

    code: str
    message: str


FORBIDDEN_CHARACTER = TextProblem("forbidden_character", N_("Contains a forbidden character."))
BIDI_CONTROL = TextProblem("bidi_control", N_("Contains a character that reverses the writing direction."))
NO_VISIBLE_CHARACTER = TextProblem("no_visible_character", N_("Write at least one visible character."))
TOO_MANY_MARKS = TextProblem("too_many_combining_marks", N_("Too many accents stacked on one character."))
TEXT_PROBLEMS = (FORBIDDEN_CHARACTER, BIDI_CONTROL, NO_VISIBLE_CHARACTER, TOO_MANY_MARKS)


class TextInvalid(ValueError):
    def __init__(self, problem: TextProblem):
        super().__init__(problem.message)
        self.problem = problem
        self.code = problem.code
        self.message = problem.message


def _forbidden(ch: str, following: str) -> bool:
    code = ord(ch)
    if code < 0x20:
        # Tab and line feed are text; a carriage return only as the first half of CRLF (browsers
        # send textarea lines that way).
        return not (ch in "\t\n" or (ch == "\r" and following == "\n"))
    return code == 0x7F or 0x80 <= code <= 0x9F or 0xD800 <= code <= 0xDFFF


def text_problem(value: str, *, required: bool = True) -> TextProblem | None:
    """The first thing wrong with `value` as free text, or None.

    Refused: NUL and every other C0 control but tab, line feed and CRLF; DEL and C1 controls; lone
    surrogates (they cannot be stored as UTF-8); the bidirectional embeddings, overrides and isolates
    U+202A-202E and U+2066-2069 (they make a name read backwards); more than MAX_COMBINING_RUN
    combining marks in a row. A `required` text needs at least one visible character (a letter,
    digit, punctuation or symbol); an optional one may be empty or blank.
    """
    visible = False
    marks = 0
    stacked = False  # reported after the scan: a forbidden character anywhere is the graver fault
    last = len(value) - 1
    for i, ch in enumerate(value):
        if ch in _BIDI_CONTROLS:
            return BIDI_CONTROL
        if _forbidden(ch, value[i + 1] if i < last else ""):
            return FORBIDDEN_CHARACTER
        category = unicodedata.category(ch)
        if category in ("Mn", "Me"):
            marks += 1
            stacked = stacked or marks > MAX_COMBINING_RUN
            continue
        marks = 0
        if category[0] in "LNPS" or category == "Mc":
            visible = True
    if stacked:
        return TOO_MANY_MARKS
    if required and not visible:
        return NO_VISIBLE_CHARACTER
    return None


def check_text(value: str, *, required: bool = True) -> str:
    """`value` unchanged when it is acceptable free text; TextInvalid otherwise."""
    problem = text_problem(value, required=required)
    if problem is not None:
        raise TextInvalid(problem)
    return value


def _pydantic_text(required: bool) -> Any:
    def validate(value: str) -> str:
        problem = text_problem(value, required=required)
        if problem is not None:  # the code travels as the error's type, the message as it is
            raise PydanticCustomError(problem.code, problem.message)
        return value

    return AfterValidator(validate)


FreeText = _pydantic_text(required=True)
"""Pydantic: `Annotated[str, FreeText, Field(max_length=...)]` for a text that must say something."""
OptionalText = _pydantic_text(required=False)
"""Pydantic: free text that may be left empty."""


# A JSON string (to skip: brackets inside it are text) or one bracket.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)

# --- dates ---------------------------------------------------------------------------------------

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Accepted instants lie in [EARLIEST, LATEST): centuries away from year 1 and 9999, so adding any
duration the platform knows (minutes to a few years) to an accepted value cannot overflow."""


class DateOutOfRange(ValueError):
    pass


def check_moment(value: datetime, *, aware: bool = False) -> datetime:
    """An instant within [EARLIEST, LATEST) (a naive one read as UTC, unless `aware` is asked:
    then it must carry its offset)."""
    original = value
    if value.tzinfo is None or value.utcoffset() is None:
        if aware:
            raise DateOutOfRange("give the time with its offset, e.g. 2026-09-01T17:00:00+02:00")
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value < LATEST:
        raise DateOutOfRange(f"give a date between {EARLIEST.year} and {LATEST.year - 1}")
    return original


def check_day(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise DateOutOfRange(f"give a date between {EARLIEST.year} and {LATEST.year - 1}")
    return value


def _pydantic_dates(check: Any) -> Any:
    def validate(value: Any) -> Any:
        try:
            return check(value)
        except DateOutOfRange as exc:
            raise PydanticCustomError("date_out_of_range", str(exc)) from None

    return AfterValidator(validate)


Moment = Annotated[datetime, _pydantic_dates(check_moment)]
Day = Annotated[date, _pydantic_dates(check_day)]


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `body` nests arrays/objects more than `limit` deep (strings skipped).

    Cheap for ordinary bodies: with no more opening brackets than the limit it cannot exceed it.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for token in _JSON_TOKENS.finditer(body):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False
