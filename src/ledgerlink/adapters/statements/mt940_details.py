"""The `:86:` information of an MT940 entry, in its bank's dialect: descriptor, payee, reference.

- German structured (`166?00GUTSCHRIFT?20...?32Name?33Name`, with SEPA keywords EREF+, MREF+,
  SVWZ+... in ?20-?29): read by the `mt-940` library's own processor; we pick its fields.
- Dutch structured (`/TRTP/SEPA OVERBOEKING/IBAN/.../NAME/.../REMI/.../EREF/...`, ING's
  `/CNTP/iban/bic/name/city/`, Rabobank's `/BENM//NAME/...`): lines are hard-wrapped, so joined
  without a space, then split on the keys.
- SEPA keywords in free text (`EREF+... SVWZ+...` without the ?nn structure).
- Anything else: free text, wrapped lines joined (a full 65-character line was cut mid-word).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from ledgerlink.domain.text import display_line

__all__ = ["describe"]

DESCRIPTOR_LIMIT = 500
NAME_LIMIT = 140
REFERENCE_LIMIT = 140
_FULL_LINE = 64  # SWIFT allows 65 characters per :86: line; banks cut at 64 or 65
_NO_REFERENCE = frozenset({"NONREF", "NOTPROVIDED", "NOT PROVIDED", ""})
_DUTCH_KEYS = ("TRTP", "CNTP", "EREF", "MARF", "CSID", "BENM", "ORDP", "NAME", "ADDR", "IBAN", "BIC", "REMI",
               "ISDT", "RTRN", "PREF", "ULTC", "ULTD", "PURP", "USTD", "STRD", "CREF", "SVCL", "ID",
               "OCMT", "CHGS", "EXCH", "RTYP", "ACCW")  # fmt: skip
_DUTCH = re.compile("/(" + "|".join(_DUTCH_KEYS) + ")/")
_SEPA = re.compile(r"\b(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC|PURP|COAM|OAMT)\+")
_SPACES = re.compile(r"\s+")


def _clean(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    shown = _SPACES.sub(" ", display_line(value, field)).lstrip(" .;,:").rstrip(" ;,")[:limit].strip()
    return shown or None


def _reference(value: str | None) -> str | None:
    ref = _clean(value, "reference", REFERENCE_LIMIT)
    return None if ref is None or ref.upper() in _NO_REFERENCE else ref


def describe(
    data: dict[str, Any], lines: list[str], supplementary: str | None
) -> tuple[str, str | None, str | None]:
    """(descriptor, merchant, reference) of one entry: `data` is what the library parsed for it,
    `lines` the raw :86: lines (the first without its tag), `supplementary` the :61: details."""
    if "transaction_details" not in data and ("purpose" in data or "posting_text" in data):
        return _german(data, supplementary)
    if not lines:
        return (_clean(supplementary, "details", DESCRIPTOR_LIMIT) or "", None, None)
    joined = "".join(lines)
    if joined.startswith("/") and len(_DUTCH.findall(joined)) >= 2:
        return _dutch(joined, supplementary)
    text = _unwrap(lines)
    if _SEPA.search(text):
        return _sepa(text, supplementary)
    descriptor = _clean(text, "details", DESCRIPTOR_LIMIT) or _clean(
        supplementary, "details", DESCRIPTOR_LIMIT
    )
    return descriptor or "", None, None


def _german(data: dict[str, Any], supplementary: str | None) -> tuple[str, str | None, str | None]:
    merchant = _clean(data.get("applicant_name"), "counterparty", NAME_LIMIT)
    descriptor = (_clean(data.get("purpose"), "purpose", DESCRIPTOR_LIMIT)
                  or _clean(data.get("posting_text"), "posting text", DESCRIPTOR_LIMIT)
                  or merchant or _clean(supplementary, "details", DESCRIPTOR_LIMIT) or "")  # fmt: skip
    reference = _reference(data.get("end_to_end_reference"))
    return descriptor, merchant, reference


def _dutch(text: str, supplementary: str | None) -> tuple[str, str | None, str | None]:
    fields: dict[str, str] = {}
    marks = list(_DUTCH.finditer(text))
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        value = text[mark.end() : after.start() if after else len(text)]
        fields.setdefault(mark[1], value.strip("/ "))
    merchant = fields.get("NAME")
    if not merchant and fields.get("CNTP"):  # ING: /CNTP/iban/bic/name/city/
        parts = fields["CNTP"].split("/")
        merchant = parts[2] if len(parts) > 2 else None
    remittance = fields.get("REMI") or fields.get("USTD") or ""
    # ING: /REMI/USTD//text/ or /REMI/STRD/CUR/RF18.../ (a structured creditor reference)
    structured = None
    if remittance.startswith("STRD/"):
        structured = remittance.rsplit("/", 1)[-1]
        remittance = ""
    remittance = remittance.removeprefix("USTD//").removeprefix("USTD/")
    merchant = _clean(merchant, "counterparty", NAME_LIMIT)
    descriptor = (_clean(remittance, "remittance", DESCRIPTOR_LIMIT) or _clean(fields.get("TRTP"), "type", 80)
                  or merchant or _clean(supplementary, "details", DESCRIPTOR_LIMIT) or "")  # fmt: skip
    return descriptor, merchant, _reference(fields.get("EREF")) or _reference(structured)


def _sepa(text: str, supplementary: str | None) -> tuple[str, str | None, str | None]:
    marks = list(_SEPA.finditer(text))
    head = text[: marks[0].start()]
    fields: dict[str, str] = {}
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        fields.setdefault(mark[1], text[mark.end() : after.start() if after else len(text)].strip())
    descriptor = (_clean(fields.get("SVWZ"), "purpose", DESCRIPTOR_LIMIT)
                  or _clean(head, "details", DESCRIPTOR_LIMIT)
                  or _clean(supplementary, "details", DESCRIPTOR_LIMIT) or "")  # fmt: skip
    merchant = _clean(fields.get("ABWE") or fields.get("ABWA"), "counterparty", NAME_LIMIT)
    return descriptor, merchant, _reference(fields.get("EREF")) or _reference(fields.get("KREF"))


def _unwrap(lines: list[str]) -> str:
    """Free :86: text on one line: a line cut at the full SWIFT width within a word or number
    continues it; any other line break is a space."""
    out = lines[0]
    for previous, line in itertools.pairwise(lines):
        out += line if len(previous) >= _FULL_LINE and _same_kind(previous[-1:], line[:1]) else " " + line
    return out


def _same_kind(a: str, b: str) -> bool:
    """Both letters or both digits: a word (or a number) cut in two, not two words."""
    return (a.isalpha() and b.isalpha()) or (a.isdigit() and b.isdigit())
