"""What CSV columns are called and what their cells look like: header names in several languages
for each role, debit/credit markers, status words, and the date formats tried on every row.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import cache

from ledgerlink.domain.statements import DateOrder

# Names (normalised: see `norm`) per role, the preferred first: a file with both "Buchungstag"
# and "Valutadatum" books on the first and values on the second.
NAMES: dict[str, tuple[str, ...]] = {
    "date": (
        "buchungstag",
        "buchungsdatum",
        "posting date",
        "post date",
        "posted date",
        "booking date",
        "boekdatum",
        "fecha contable",
        "date",
        "datum",
        "fecha",
        "fecha operacion",
        "fecha movimiento",
        "data",
        "date operation",
        "transaction date",
        "transactiedatum",
        "trans. date",
        "trans date",
        "started date",
        "completed date",
        "created",
        "dato",
        "konyveles datuma",
        "data ksiegowania",
        "data operacji",
        "bokforingsdatum",
        "transaktionsdatum",
    ),
    "value_date": (
        "valutadatum",
        "valuta",
        "wertstellung",
        "wert",
        "value date",
        "rentedatum",
        "fecha valor",
        "f.valor",
        "date de valeur",
        "data valuta",
        "data waluty",
        "valuedate",
    ),
    "amount": (
        "amount",
        "betrag",
        "bedrag",
        "importe",
        "montant",
        "importo",
        "umsatz",
        "osszeg",
        "kwota",
        "belopp",
        "belob",
        "transaction amount",
        "amount eur",
        "betrag eur",
        "importe eur",
        "value",
    ),
    "debit": (
        "debit",
        "debit amount",
        "withdrawal",
        "withdrawals",
        "paid out",
        "money out",
        "outflow",
        "soll",
        "cargo",
        "cargos",
        "debe",
        "debito",
        "belastung",
        "ausgang",
        "afschrijving",
    ),
    "credit": (
        "credit",
        "credit amount",
        "deposit",
        "deposits",
        "paid in",
        "money in",
        "inflow",
        "haben",
        "abono",
        "abonos",
        "haber",
        "credito",
        "gutschrift",
        "eingang",
        "bijschrijving",
    ),
    "description": (
        "verwendungszweck",
        "description",
        "omschrijving",
        "mededelingen",
        "concepto",
        "descripcion",
        "memo",
        "details",
        "narrative",
        "libelle",
        "payment reference",
        "reference",
        "transaction description",
        "buchungstext",
        "kozlemeny",
        "omschrijving-1",
        "particulars",
        "remarks",
        "meddelande",
        "opis operacji",
        "tytul",
        "notes",
        "notes and #tags",
    ),
    "payee": (
        "payee",
        "name",
        "merchant",
        "counterparty",
        "beguenstigter/zahlungspflichtiger",
        "begunstigter / auftraggeber",
        "auftraggeber / begunstigter",
        "zahlungsempfanger*in",
        "empfanger",
        "naam / omschrijving",
        "naam tegenpartij",
        "tegenpartij",
        "partner name",
        "partner nev",
        "beneficiary",
        "payee name",
        "merchant name",
        "nombre",
        "naam",
        "nadawca / odbiorca",
    ),
    "id": (
        "transaction id",
        "id",
        "transactiereferentie",
        "reference number",
        "referenz",
        "tranzakcioazonosito",
        "volgnr",
        "transaction reference",
    ),
    "balance": (
        "balance",
        "saldo",
        "kontostand",
        "running bal",
        "running balance",
        "saldo na mutatie",
        "saldo na trn",
        "disponible",
        "szamlaegyenleg",
        "available balance",
        "saldo po operacji",
    ),
    "currency": (
        "currency",
        "wahrung",
        "waehrung",
        "munt",
        "muntsoort",
        "divisa",
        "moneda",
        "devise",
        "devizanem",
        "valuta rekening",
        "currency code",
        "waluta",
    ),
    "direction": (
        "af bij",
        "debit/credit",
        "credit/debit",
        "d/c",
        "dr/cr",
        "cd",
        "soll/haben",
        "creditdebet",
        "s/h",
        "debet/credit",
        "credit debit indicator",
    ),
    "account": (
        "auftragskonto",
        "iban auftraggeberkonto",
        "rekening",
        "iban/bban",
        "account",
        "account number",
        "accountnumber",
        "szamlaszam",
        "own account",
        "cuenta",
    ),
    "status": ("status", "state"),
}

# (money out, money in) marker pairs of a direction column.
MARKERS: tuple[tuple[str, str], ...] = (
    ("af", "bij"), ("debit", "credit"), ("dr", "cr"), ("d", "c"), ("s", "h"), ("soll", "haben"),
    ("o", "i"), ("out", "in"), ("-", "+"), ("db", "cr"), ("cargo", "abono"), ("debet", "credit"),
    ("uit", "bij"), ("d", "k"),
)  # fmt: skip
OUT_MARKERS = frozenset(pair[0] for pair in MARKERS)
IN_MARKERS = frozenset(pair[1] for pair in MARKERS)
PENDING = frozenset(
    {
        "pending",
        "vorgemerkt",
        "umsatz vorgemerkt",
        "in behandeling",
        "pendiente",
        "en attente",
        "in sospeso",
        "authorised",
        "authorized",
    }
)
DROPPED = frozenset(
    {"reverted", "declined", "failed", "cancelled", "canceled", "storniert", "rejected", "abgelehnt"}
)


def norm(cell: str) -> str:
    """A header cell as compared: lower case, accents and "(EUR)"-style suffixes removed."""
    s = unicodedata.normalize("NFKD", cell.strip().strip('"').lower())
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = re.sub(r"[(\[].*?[)\]]", " ", s).replace("_", " ")
    s = re.sub(r"[^a-z0-9 /#*.\-]", " ", s)
    return " ".join(s.split()).strip(" .")


def markers_of(values: set[str]) -> tuple[str, str] | None:
    """The marker pair all these (lower-cased) values belong to, if one does."""
    if not values or len(values) > 2:
        return None
    for pair in MARKERS:
        if values <= set(pair):
            return pair
    return None


# ------------------------------------------------------------------------------ dates

NUMERIC_FORMATS: tuple[tuple[str, DateOrder], ...] = (
    ("%d.%m.%Y", DateOrder.DMY), ("%d.%m.%y", DateOrder.DMY), ("%d/%m/%Y", DateOrder.DMY),
    ("%m/%d/%Y", DateOrder.MDY), ("%d/%m/%y", DateOrder.DMY), ("%m/%d/%y", DateOrder.MDY),
    ("%d-%m-%Y", DateOrder.DMY), ("%m-%d-%Y", DateOrder.MDY), ("%d-%m-%y", DateOrder.DMY),
    ("%m-%d-%y", DateOrder.MDY), ("%Y-%m-%d", DateOrder.YMD), ("%Y/%m/%d", DateOrder.YMD),
    ("%Y.%m.%d", DateOrder.YMD), ("%Y.%m.%d.", DateOrder.YMD), ("%Y%m%d", DateOrder.YMD),
    ("%d.%m.%Y.", DateOrder.DMY),
)  # fmt: skip
NAMED_FORMATS: tuple[str, ...] = (
    "%d %b %Y",
    "%d %B %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d %b %y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d/%b/%Y",
    "%d.%b.%Y",
)
ORDER_OF = dict(NUMERIC_FORMATS)
_TIME = re.compile(
    r"(?:T|\s+)\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[AP]M|[+-]\d{2}:?\d{2}|[A-Z]{2,5})?$", re.I
)


@cache
def _pattern(fmt: str) -> re.Pattern[str]:
    parts = {"%d": r"(?P<d>\d{1,2})", "%m": r"(?P<m>\d{1,2})", "%Y": r"(?P<Y>\d{4})", "%y": r"(?P<y>\d{2})"}
    if fmt == "%Y%m%d":
        return re.compile(r"(?P<Y>\d{4})(?P<m>\d{2})(?P<d>\d{2})")
    out, i = [], 0
    while i < len(fmt):
        piece = fmt[i : i + 2]
        if piece in parts:
            out.append(parts[piece])
            i += 2
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return re.compile("".join(out))


def parse_date(cell: str, fmt: str) -> date | None:
    """A cell under a strptime-style format: numeric formats strictly (a four-digit %Y, a
    two-digit %y), named months through strptime; a time after the date is ignored."""
    s = _TIME.sub("", cell.strip())
    if not s:
        return None
    if fmt in ORDER_OF or (fmt not in NAMED_FORMATS and "%b" not in fmt and "%B" not in fmt):
        m = _pattern(fmt).fullmatch(s)
        if m is None:
            return None
        g = m.groupdict()
        year = int(g["Y"]) if g.get("Y") else (2000 + int(g["y"]) if int(g["y"]) < 69 else 1900 + int(g["y"]))
        try:
            return date(year, int(g["m"]), int(g["d"]))
        except ValueError:
            return None
    if not any(ch.isalpha() for ch in s):  # a month name is letters: spare strptime the digits
        return None
    try:
        return datetime.strptime(s, fmt).date()  # noqa: DTZ007 - a calendar day, no instant
    except ValueError:
        return None


def fitting_formats(cells: list[str]) -> list[str]:
    """Every candidate format under which every (non-empty) cell is a date, in preference order."""
    alive = [fmt for fmt, _ in NUMERIC_FORMATS] + list(NAMED_FORMATS)
    for cell in cells:
        if cell.strip():
            alive = [fmt for fmt in alive if parse_date(cell, fmt) is not None]
            if not alive:
                break
    return alive
