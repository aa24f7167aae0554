"""Sanitising pydantic types for typed job data.

* `text(n)`: multi-line text; control characters are removed except newline and tab, then
  the value is trimmed and must have 1..n characters (carriage returns go too: "\\r\\n" → "\\n").
* `line(n)`: single-line text; as `text`, with newlines and tabs turned into spaces.
* `Id`: an identifier given as a string or an integer, stored as a string of 1..64 characters
  without control characters (refused, not stripped: a changed id names something else).
* `FutureDatetime`: an ISO 8601 date-time *with* a timezone (naive times are refused: a
  reminder's wall-clock time is ambiguous without one), strictly after now and at most
  `MAX_FUTURE` ahead. The offset given is kept.
* `json_object(max_bytes)`: a JSON object of unknown shape (a Telegram message, an
  OpenProject work package): strings cleaned as `text`, non-finite numbers refused, nesting
  at most `MAX_DEPTH` deep, at most `max_bytes` once serialised.

Lone UTF-16 surrogates (which JSON can carry but UTF-8 cannot) are removed with the control
characters, so sanitised data always encodes.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
LINE_BREAKS = re.compile(r"[\n\t]")
ID_MAX_CHARS = 64
MAX_DEPTH = 32
MAX_FUTURE = timedelta(days=5 * 366)


def strip_control(value: str) -> str:
    """`value` without control characters (newline and tab kept) and lone surrogates."""
    return CONTROL.sub("", value)


def one_line(value: str, limit: int) -> str:
    """`value` on one line, whitespace collapsed, no control characters, cut to `limit`."""
    return " ".join(strip_control(value).split())[:limit]


def _check_length(value: str, min_length: int, max_length: int) -> str:
    """`value` if its length is within bounds; a pydantic error otherwise."""
    if len(value) < min_length:
        if min_length == 1:
            raise PydanticCustomError("string_too_short", "must not be empty or only whitespace")
        raise PydanticCustomError(
            "string_too_short",
            "String should have at least {min_length} characters",
            {"min_length": min_length},
        )
    if len(value) > max_length:
        raise PydanticCustomError(
            "string_too_long",
            "String should have at most {max_length} characters",
            {"max_length": max_length},
        )
    return value


def clean_text(value: str, min_length: int, max_length: int, multiline: bool) -> str:
    """Strip control characters, flatten line breaks unless `multiline`, trim, check length."""
    value = strip_control(value)
    if not multiline:
        value = LINE_BREAKS.sub(" ", value)
    return _check_length(value.strip(), min_length, max_length)


def text(max_length: int, min_length: int = 1) -> Any:
    """Multi-line sanitised text of `min_length`..`max_length` characters."""
    check = partial(clean_text, min_length=min_length, max_length=max_length, multiline=True)
    return Annotated[str, AfterValidator(check)]


def line(max_length: int, min_length: int = 1) -> Any:
    """Single-line sanitised text of `min_length`..`max_length` characters."""
    check = partial(clean_text, min_length=min_length, max_length=max_length, multiline=False)
    return Annotated[str, AfterValidator(check)]


def lower(value: object) -> object:
    """Strings trimmed and lower-cased (for case-insensitive choices); others unchanged."""
    return value.strip().lower() if isinstance(value, str) else value


def _coerce_id(value: object) -> object:
    """Integers become strings; anything but a string or an integer is refused."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("id_type", "Input should be a string or an integer")
    return str(value)


def _check_id(value: str) -> str:
    """A trimmed id of 1..64 characters without control characters."""
    value = value.strip()
    if CONTROL.search(value) or LINE_BREAKS.search(value):
        raise PydanticCustomError("id_control", "must not contain control characters")
    return _check_length(value, 1, ID_MAX_CHARS)


Id = Annotated[str, BeforeValidator(_coerce_id), AfterValidator(_check_id)]


def _in_future(value: datetime) -> datetime:
    """`value` if it is after now and not absurdly far ahead."""
    now = datetime.now(UTC)
    if value <= now:
        raise PydanticCustomError("datetime_future", "must be in the future")
    if value - now > MAX_FUTURE:
        raise PydanticCustomError(
            "datetime_too_far", "must be at most {days} days ahead", {"days": MAX_FUTURE.days}
        )
    return value


FutureDatetime = Annotated[AwareDatetime, AfterValidator(_in_future)]


def sanitise_json(value: Any, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """`value` (parsed JSON) with its strings cleaned; size, depth and numbers checked."""
    cleaned = _walk(value, max_depth)
    size = len(json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")).encode())
    if size > max_bytes:
        raise PydanticCustomError(
            "object_too_large",
            "must be at most {max_bytes} bytes as JSON",
            {"max_bytes": max_bytes},
        )
    return cleaned


def _walk(value: Any, depth: int) -> Any:
    """Recursive part of `sanitise_json`."""
    if isinstance(value, str):
        return strip_control(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite_number", "numbers must be finite")
    if isinstance(value, dict | list) and depth <= 0:
        raise PydanticCustomError("too_deep", "is nested too deeply")
    if isinstance(value, dict):
        return {strip_control(str(k)): _walk(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(item, depth - 1) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    raise PydanticCustomError("json_type", "must be JSON data")


def json_object(max_bytes: int) -> Any:
    """A JSON object of any shape, sanitised, at most `max_bytes` when serialised."""
    check = partial(sanitise_json, max_bytes=max_bytes)
    return Annotated[dict[str, Any], AfterValidator(check)]
