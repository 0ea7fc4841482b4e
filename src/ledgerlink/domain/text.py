"""Text from outside (banks, homeservers): what may be stored, and what may be shown.

Two rules, both pure and total:

- **At the door** (`display_line`, `display_text`): bank-supplied display text (merchant names,
  descriptors, account names, message text) must be Unicode scalar values. A lone surrogate (a
  JSON escape such as ``"\\ud800"`` decodes to one) is not text at all: it is refused with
  `InvalidText` (code ``invalid_text``) naming the field, never echoing the value. Control
  characters (C0, DEL, C1) and the bidirectional formatting characters (embeddings, overrides,
  isolates and marks: U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) and the
  noncharacters U+FFFE, U+FFFF (not allowed in XML, hence in OFX) are removed; the
  line-breaking ones (tab, line feed, carriage return, NEL, U+2028, U+2029...) become one space
  in a one-line field (`display_line`) and a line feed in free text (`display_text`).
- **At render and export time** (`displayable`, `displayable_tree`): anything already stored
  is shown safely whatever it holds: a lone surrogate becomes U+FFFD; control characters (but
  tab, line feed and carriage return), bidi controls and those noncharacters are removed; the
  rest is untouched. It never raises, so one bad row cannot take a page, the live feed or an
  export down.

Both answer at once (one regular-expression search) for text that needs no change.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar, cast

from ledgerlink.domain.errors import InvalidInput

__all__ = [
    "BIDI_CONTROLS",
    "REPLACEMENT",
    "InvalidText",
    "display_line",
    "display_text",
    "displayable",
    "displayable_tree",
    "require_scalar_values",
]

REPLACEMENT = "\ufffd"
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

_SURROGATE = re.compile("[\ud800-\udfff]")
# Everything the door changes: surrogates, C0, DEL, C1, bidi controls, line/paragraph separators.
_DOOR = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{BIDI_CONTROLS}\ufffe\uffff\ud800-\udfff]")
_BREAKS = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\u2028\u2029"
_LINE_BREAKS = re.compile(f"[{_BREAKS}]+")
_TEXT_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_DROP = re.compile(f"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f{BIDI_CONTROLS}\ufffe\uffff]")
_DROP_IN_TEXT = re.compile(f"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f{BIDI_CONTROLS}\ufffe\uffff]")
# What rendering changes: surrogates, C0 but tab/LF/CR, DEL, C1, bidi controls.
_RENDER = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{BIDI_CONTROLS}\ufffe\uffff\ud800-\udfff]")
_RENDER_DROP = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{BIDI_CONTROLS}\ufffe\uffff]")


T = TypeVar("T")


class InvalidText(InvalidInput):
    """Bank-supplied text that is not Unicode text (a lone surrogate): 422 ``invalid_text``."""

    code = "invalid_text"


def require_scalar_values(value: str, field: str) -> None:
    """Refuse (`InvalidText`, naming `field`, never the value) a string with a lone surrogate."""
    found = _SURROGATE.search(value)
    if found is not None:
        raise InvalidText(
            f"{field} is not valid Unicode text: a lone surrogate (U+{ord(found.group()):04X}) "
            f"at character {found.start()}; send UTF-8 text of Unicode scalar values"
        )


def display_line(value: str, field: str) -> str:
    """A one-line display field: refused if it holds a lone surrogate; line breaks and tabs
    become one space, other control and bidi characters are removed, ends are trimmed."""
    if _DOOR.search(value) is None:
        return value
    require_scalar_values(value, field)
    return _DROP.sub("", _LINE_BREAKS.sub(" ", value)).strip()


def display_text(value: str, field: str) -> str:
    """Free text (several lines, e.g. a bank's message): as `display_line`, but line breaks
    (CRLF, CR, NEL, U+2028, U+2029...) become a line feed and tabs stay."""
    if _DOOR.search(value) is None:
        return value
    require_scalar_values(value, field)
    return _DROP_IN_TEXT.sub("", _TEXT_BREAKS.sub("\n", value)).strip()


def displayable(value: str) -> str:
    """Any string, safe to encode as UTF-8 and to show: lone surrogates become U+FFFD, control
    characters (but tab, line feed, carriage return) and bidi controls are removed. Total."""
    if _RENDER.search(value) is None:
        return value
    return _RENDER_DROP.sub("", _SURROGATE.sub(REPLACEMENT, value))


def displayable_tree(value: T) -> T:
    """`displayable` applied to every string (keys included) of JSON-like data (dicts, lists,
    tuples); other values are returned as they are. Builds new containers only where a string
    changed, so clean data costs one search per string."""
    return cast(T, _tree(value))


def _tree(value: Any) -> Any:
    if isinstance(value, str):
        return displayable(value)
    if isinstance(value, dict):
        pairs = [(_tree(k), _tree(v)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items(), strict=True)):
            return value
        return dict(pairs)
    if isinstance(value, list | tuple):
        items = [_tree(v) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    return value
