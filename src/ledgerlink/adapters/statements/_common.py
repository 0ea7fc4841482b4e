"""What the OFX, QIF and CSV readers share: decoding bytes whose charset nobody states honestly,
amounts written the way people write them, numeric dates whose order the file does not say,
money with the currency's exponent, display text, and warnings counted rather than repeated.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money, exponent
from ledgerlink.domain.statements import DateOrder, ReadOptions, StatementError, StatementFormat
from ledgerlink.domain.text import display_line

MAX_TEXT = 500  # characters kept of one display field (descriptor, payee, memo)
MAX_ID = 255  # OFX allows 255 for FITID; more is not an id but garbage

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)  # fmt: skip
# Codecs a bank export plausibly uses; charset-normalizer's other answers (hp_roman8, cp1006...)
# for a few lines of Latin text are wrong guesses.
_PLAUSIBLE = frozenset(
    {
        "cp1252",
        "latin_1",
        "iso8859_15",
        "cp1250",
        "iso8859_2",
        "cp1251",
        "koi8_r",
        "cp1253",
        "iso8859_7",
        "cp1254",
        "cp1257",
        "iso8859_13",
        "cp850",
        "cp437",
        "mac_roman",
        "shift_jis",
        "cp932",
        "euc_jp",
        "gb18030",
        "gbk",
        "gb2312",
        "big5",
        "euc_kr",
        "cp949",
        "utf_16",
        "utf_16_le",
        "utf_16_be",
    }
)


@dataclass(slots=True)
class Notes:
    """Warnings for the person, counted: 50,000 rounded amounts make one line, not 50,000."""

    _seen: dict[str, tuple[int, str | None]] = field(default_factory=dict)

    def add(self, text: str, where: str | None = None) -> None:
        count, first = self._seen.get(text, (0, where))
        self._seen[text] = (count + 1, first)

    def render(self) -> tuple[str, ...]:
        return tuple(
            f"{f'{where}: ' if where else ''}{text}{f' ({count} times)' if count > 1 else ''}"
            for text, (count, where) in self._seen.items()
        )


def decode(data: bytes, *, declared: str | None, fmt: StatementFormat, notes: Notes) -> tuple[str, str]:
    """The text of a file and the codec used: a BOM wins, then strict UTF-8 (a file that decodes
    as UTF-8 with non-ASCII in it is UTF-8 whatever its header claims), then the declared
    charset, then charset-normalizer's best plausible guess, then cp1252 with replacements."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return _strict(data[len(bom) :], codec, fmt), codec
    utf16 = _bomless_utf16(data)
    if utf16:
        return _strict(data, utf16, fmt), utf16
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if declared and codecs.lookup(declared).name not in ("utf-8", "ascii") and not data.isascii():
            notes.add(f"the file says its charset is {declared} but its bytes are UTF-8: read as UTF-8")
        return text, "utf-8"
    if declared:
        try:
            return data.decode(declared), codecs.lookup(declared).name
        except UnicodeDecodeError:
            notes.add(
                f"the file says its charset is {declared} but its bytes are not: the charset was detected"
            )
    guess = _guess(data)
    if guess:
        return data.decode(guess), guess
    notes.add("the text encoding could not be recognised: read as Windows-1252, unknown bytes replaced")
    return data.decode("cp1252", errors="replace"), "cp1252"


def _strict(data: bytes, codec: str, fmt: StatementFormat) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise StatementError(
            f"the file starts with a {codec} byte-order mark but byte {exc.start} is not {codec}",
            format=fmt,
            code="bad_encoding",
        ) from None


def _bomless_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM (some Windows exports): every other byte of ASCII text is zero."""
    head = data[:400]
    if len(head) < 8 or len(head) % 2:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    if odd > half * 0.9 and even < half * 0.1:
        return "utf-16-le"
    if even > half * 0.9 and odd < half * 0.1:
        return "utf-16-be"
    return None


def _guess(data: bytes) -> str | None:
    """Windows-1252 when it reads the bytes as Latin text (the common case for Western banks:
    charset-normalizer alone guesses wildly on a few short lines); charset-normalizer's best
    plausible answer when they are not (Cyrillic, Greek, CJK, or bytes cp1252 does not have)."""
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and not _non_latin(western):
        return "cp1252"
    from charset_normalizer import from_bytes

    for match in from_bytes(data[:200_000]):
        if match.encoding in _PLAUSIBLE:
            try:
                data.decode(match.encoding)
            except UnicodeDecodeError:
                continue
            return str(match.encoding)
    return "cp1252" if western is not None else "latin_1"


def _non_latin(decoded: str) -> bool:
    """Words made only of accented letters are another script read as cp1252 ("Ïðèâåò")."""
    words = [w for w in re.findall(r"[^\W\d_]{3,}", decoded) if not w.isascii()]
    if not words:
        return False
    foreign = sum(1 for w in words if all(ord(ch) > 0xBF for ch in w))
    return foreign * 2 > len(words)


def text(value: str | None, field_name: str, *, fmt: StatementFormat, where: str | None) -> str | None:
    """A display string from the file, or None when empty: one line, bounded, no controls."""
    if value is None:
        return None
    try:
        clean = display_line(value, field_name)
    except InvalidInput:
        raise StatementError(
            f"{field_name} is not valid text", format=fmt, where=where, code="invalid_text"
        ) from None
    clean = " ".join(clean.split())
    return clean[:MAX_TEXT] if clean else None


def join_descriptor(name: str | None, memo: str | None) -> str:
    """The line as the bank prints it from a name and a memo, neither repeated."""
    if name and memo:
        if memo in name:
            return name
        return memo if name in memo else f"{name} {memo}"
    return name or memo or ""


def require_currency(
    found: str | None, options: ReadOptions, *, fmt: StatementFormat, where: str | None = None
) -> str:
    """The currency a statement is in: the file's, else the caller's, else a refusal: a currency
    is never invented."""
    code = (found or options.currency or "").strip().upper()
    if not code:
        raise StatementError(
            "the file does not say its currency: choose one for the account (e.g. EUR)",
            format=fmt,
            where=where,
            code="currency_needed",
        )
    try:
        exponent(code)
    except InvalidInput:
        shown = code if re.fullmatch(r"[A-Z]{3}", code) else "given"
        raise StatementError(
            f"currency {shown} is not an ISO 4217 code", format=fmt, where=where, code="bad_currency"
        ) from None
    return code


def money(amount: Decimal, currency: str, *, fmt: StatementFormat, where: str | None, notes: Notes) -> Money:
    """Money in the currency's exponent: more decimals (OFX files with 3-5) are rounded half-even
    and said in a warning; a non-finite or absurd amount is refused."""
    if not amount.is_finite():
        raise StatementError("the amount is not a number", format=fmt, where=where, code="bad_amount")
    if amount.adjusted() > 15:
        raise StatementError("the amount is too large to be real", format=fmt, where=where, code="bad_amount")
    try:
        exp = exponent(currency)
    except InvalidInput:
        shown = currency if re.fullmatch(r"[A-Z]{3}", currency) else "given"
        raise StatementError(
            f"currency {shown} is not an ISO 4217 code", format=fmt, where=where, code="bad_currency"
        ) from None
    quantum = Decimal(1).scaleb(-exp)
    if amount.as_tuple().exponent < -exp:  # type: ignore[operator]
        notes.add(
            f"amounts written with more decimals than {currency} has were rounded half-even to {exp}", where
        )
        amount = amount.quantize(quantum, rounding=ROUND_HALF_EVEN)
    if amount.is_zero():
        amount = abs(amount)  # -0.004 rounds to 0.00, not to "-0.00"
    try:
        return Money(amount, currency)
    except InvalidInput as exc:
        raise StatementError(exc.detail, format=fmt, where=where, code="bad_amount") from None


# ------------------------------------------------------------------------------ amounts

_SYMBOL = "(?:[A-Za-z]{3}|[€$£¥₹₩₽₺₪₫₴₦₱]|US\\$|R\\$|C\\$|A\\$|kr|Kr|zł|Kč|Ft)"
_ENDS = re.compile(
    f"^\\s*{_SYMBOL}[\\s\u00a0]*|[\\s\u00a0]*{_SYMBOL}\\s*$"
)  # "EUR 12,50", "12.50 USD", "€12"
_INNER_GROUPING = re.compile("(?<=\\d)[\\s\u00a0\u202f'](?=\\d)")  # "1 234,56", "1'234.50"
_PLAIN = re.compile(r"[0-9.,]+")


def parse_amount(raw: str, *, decimal_comma: bool | None = None) -> Decimal | None:
    """An amount as people write it, or None: "1.234,56", "1,234.56", "-12,50", "12,50-",
    "(12.50)", "+1 234,56 EUR", "1'234.50". `decimal_comma` says which separator is the decimal
    one when a lone separator could be either (None: decide from the string)."""
    s = raw.strip()
    if not s:
        return None
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    s = _INNER_GROUPING.sub("", _ENDS.sub("", s))
    if s.endswith("-"):
        negative, s = not negative, s[:-1]
    elif s.endswith("+"):
        s = s[:-1]
    if s.startswith("-"):
        negative, s = not negative, s[1:]
    elif s.startswith("+"):
        s = s[1:]
    if not s or not _PLAIN.fullmatch(s) or not any(ch.isdigit() for ch in s):
        return None
    number = _normalise(s, decimal_comma)
    if number is None:
        return None
    try:
        value = Decimal(number)
    except InvalidOperation:
        return None
    return -value if negative else value


def _normalise(s: str, decimal_comma: bool | None) -> str | None:
    dots, commas = s.count("."), s.count(",")
    if dots and commas:
        decimal = "," if s.rfind(",") > s.rfind(".") else "."
    elif commas:
        decimal = (
            ","
            if (commas == 1 and (decimal_comma or (decimal_comma is None and len(s) - s.rfind(",") - 1 != 3)))
            else ""
        )
    elif dots:
        decimal = "." if (dots == 1 and (decimal_comma is not True or len(s) - s.rfind(".") - 1 != 3)) else ""
    else:
        decimal = ""
    thousands = {",": ".", ".": ",", "": ".,"}[decimal]
    integer, _, fraction = s.rpartition(decimal) if decimal else (s, "", "")
    if decimal and not integer:
        integer = "0"
    if any(sep in fraction for sep in ".,"):
        return None
    groups = re.split(f"[{re.escape(thousands)}]", integer) if thousands else [integer]
    if len(groups) > 1 and (not groups[0] or len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:])):
        return None
    return "".join(groups) + (f".{fraction}" if decimal else "")


# ------------------------------------------------------------------------------ numeric dates

_QIF_DATE = re.compile(r"(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})")


@dataclass(frozen=True, slots=True)
class NumericDate:
    """A date as three numbers in the file's order: `a/b/c`; `century` is set when the file says
    it ("'25" is 2025 in Quicken's notation)."""

    a: int
    b: int
    c: int
    a_digits: int
    c_digits: int
    century: int | None = None

    def orders(self) -> set[DateOrder]:
        return {order for order in (DateOrder.DMY, DateOrder.MDY, DateOrder.YMD) if self.read(order)}

    def read(self, order: DateOrder) -> date | None:
        if order is DateOrder.YMD:
            if self.a_digits != 4 or self.c_digits > 2:
                return None
            year, month, day = self.a, self.b, self.c
        else:
            if self.a_digits > 2 or self.c_digits not in (2, 4):
                return None
            year = self.c if self.c_digits == 4 else _two_digit_year(self.c, self.century)
            day, month = (self.a, self.b) if order is DateOrder.DMY else (self.b, self.a)
        try:
            return date(year, month, day)
        except ValueError:
            return None


def _two_digit_year(yy: int, century: int | None) -> int:
    if century is not None:
        return century + yy
    return 2000 + yy if yy < 69 else 1900 + yy  # the POSIX strptime pivot (%y)


def qif_date(raw: str) -> NumericDate | None:
    """A QIF D line's date: "1/ 2'25", "01/02/2025", "2025-01-02", "1.2.25"."""
    s = raw.strip()
    century = None
    if "'" in s:
        head, _, tail = s.rpartition("'")
        s, century = f"{head}/{tail}", 2000
    s = s.replace(" ", "")
    m = _QIF_DATE.fullmatch(s)
    if m is None:
        return None
    a, b, c = m.groups()
    if century is not None and len(c) == 4:
        century = None
    return NumericDate(int(a), int(b), int(c), len(a), len(c), century)


def orders_fitting(dates: Iterable[NumericDate]) -> set[DateOrder]:
    fits = {DateOrder.DMY, DateOrder.MDY, DateOrder.YMD}
    for d in dates:
        fits &= d.orders()
        if not fits:
            break
    return fits


_COMMA_DECIMAL = re.compile(r"^[^.]*\d,\d{1,2}\D*$|\.\d{3}.*,\d+\D*$")
_POINT_DECIMAL = re.compile(r"^[^,]*\d\.\d{1,2}\D*$|,\d{3}.*\.\d+\D*$")


def decimal_comma_of(values: Iterable[str]) -> bool | None:
    """Whether a file's amounts use a decimal comma: True, False, or None when nothing tells
    (whole numbers only, or both styles: then each amount is read on its own)."""
    comma = point = False
    for value in values:
        comma = comma or bool(_COMMA_DECIMAL.search(value))
        point = point or bool(_POINT_DECIMAL.search(value))
        if comma and point:
            return None
    return True if comma else (False if point else None)
