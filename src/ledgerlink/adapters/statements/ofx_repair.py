"""OFX as banks really write it, made well-formed for ofxtools' parser.

Real files have no header or a wrong one, blank-line padding, a CHARSET that is not what the
bytes are, HTML entities, SGML leaves that are closed or not, aggregates left open (a missing
`</BANKTRANLIST>`, an `</STMTTRN>` forgotten), tags without their `>`, empty elements,
vendor tags (`<INTU.BID>`) and several `<OFX>` documents in one file. `Repairer` reads the text
once, token by token, and writes each document again as canonical markup: every leaf closed,
every aggregate closed where the OFX schema says it must end, empty leaves dropped. What it
cannot make sense of (text outside any element, a file cut off inside a transaction, no
`<OFX>` at all) is a `StatementError` naming the line. The OFX schema (which tags are
aggregates, which children each may hold) comes from ofxtools' own models.
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from collections.abc import Iterator
from functools import cache
from typing import Any

from ledgerlink.adapters.statements._common import Notes
from ledgerlink.domain.statements import StatementError, StatementFormat

# One token of OFX: CDATA, a comment or declaration, a tag (its ">" may be missing when a line
# break or the next tag follows: "</NAME\n<MEMO>"), text, or a lone "<" that starts no tag.
_TOKEN = re.compile(
    r"<!\[CDATA\[(?P<cdata>.*?)\]\]>"
    r"|<!--.*?-->|<[?!][^>]*>"
    r"|<(?P<close>/)?[ \t]*(?P<tag>[A-Za-z][A-Za-z0-9._]*)[ \t]*(?P<selfclose>/)?[ \t]*(?:>|(?=\s*(?:<|\Z)))"
    r"|(?P<text>[^<]+)"
    r"|<",
    re.S,
)
_OFX_START = re.compile(r"<OFX\s*>", re.I)
_HEADER_LINE = re.compile(r"\s*(?:[A-Za-z]+:[^<\n]*|<\?[^>]*\?>)\s*")
_ALL_CLOSES = re.compile(r"</\s*([A-Za-z][A-Za-z0-9._]*)")
# Inside these, the end of the file means the file was cut off: transactions may be missing.
_TRUNCATION = frozenset({"STMTTRN", "INVBANKTRAN", "BANKTRANLIST", "INVTRANLIST"})
CHUNK = 4000  # pieces of markup handed to the parser at a time (memory stays flat)


@cache
def schema() -> tuple[frozenset[str], frozenset[str], dict[str, frozenset[str]]]:
    """(aggregates, leaves, children by aggregate) of the OFX schema, from ofxtools' models."""
    from ofxtools import Types
    from ofxtools.models.base import Aggregate

    aggregates: set[str] = set()
    leaves: set[str] = set()
    children: dict[str, frozenset[str]] = {}
    todo: list[type[Any]] = [Aggregate]
    while todo:
        cls = todo.pop()
        sub: type[Any]
        for sub in cls.__subclasses__():
            todo.append(sub)
            aggregates.add(sub.__name__)
            names: set[str] = set()
            for klass in sub.__mro__:
                for attr, value in vars(klass).items():
                    if isinstance(value, Types.SubAggregate):
                        names.add(value.aggregate_type.__name__)
                    elif isinstance(value, Types.Element):
                        names.add(attr.upper())
                        leaves.add(attr.upper())
            children[sub.__name__] = frozenset(names)
    return frozenset(aggregates), frozenset(leaves - aggregates), children


_V1_CHARSET = re.compile(rb"CHARSET:\s*([\w-]+)", re.I)
_V1_ENCODING = re.compile(rb"ENCODING:\s*([\w-]+)", re.I)
_XML_ENCODING = re.compile(rb"<\?xml[^>]*encoding\s*=\s*[\"']([\w.-]+)", re.I)
_CHARSETS = {"1252": "cp1252", "ISO-8859-1": "cp1252", "8859-1": "cp1252", "LATIN1": "cp1252",
             "NONE": None, "UTF-8": "utf-8"}  # fmt: skip


def declared_charset(data: bytes) -> str | None:
    """The charset the header declares (OFX 1 CHARSET/ENCODING, the XML declaration), as a codec."""
    end = data.upper().find(b"<OFX")
    head = data[: end if end >= 0 else 2048]
    xml = _XML_ENCODING.search(head)
    if xml:
        return _codec(xml.group(1).decode("ascii").upper())
    encoding = _V1_ENCODING.search(head)
    if encoding and encoding.group(1).upper() in (b"UTF-8", b"UNICODE"):
        return "utf-8"
    charset = _V1_CHARSET.search(head)
    if charset:
        return _codec(charset.group(1).decode("ascii").upper())
    return "utf-8" if b"<?OFX" in head.upper() else None


def _codec(name: str) -> str | None:
    if name in _CHARSETS:
        return _CHARSETS[name]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def split_header(text: str, *, fmt: StatementFormat, notes: Notes) -> tuple[int, int]:
    """Where the first `<OFX>` starts and its line. Whatever precedes it should be the header
    (OFX 1 `KEY:VALUE` lines, or the XML and OFX declarations)."""
    m = _OFX_START.search(text)
    if m is None:
        first = next((i for i, line in enumerate(text.splitlines(), 1) if line.strip()), 1)
        raise StatementError(
            "no <OFX> element: this is not an OFX file", format=fmt, where=f"line {first}", code="not_ofx"
        )
    before = text[: m.start()]
    junk = [line for line in before.splitlines() if line.strip() and not _HEADER_LINE.fullmatch(line)]
    if junk:
        notes.add(f"{len(junk)} line(s) before <OFX> that are not an OFX header were ignored")
    return m.start(), before.count("\n") + 1


def _header_like(piece: str) -> bool:
    """Between two documents: the second one's OFX 1 header lines."""
    return all(not line.strip() or _HEADER_LINE.fullmatch(line) for line in piece.splitlines())


class Repairer:
    """Reads OFX text from `<OFX>` on and yields canonical markup in chunks, `None` between
    documents. `lines` receives the line of every start tag in the order they are written, so
    the parser can say where each element came from."""

    def __init__(self, *, fmt: StatementFormat, notes: Notes) -> None:
        self.fmt = fmt
        self.notes = notes
        self.lines: deque[int] = deque()
        self._aggregates, self._leaves, self._children = schema()
        self._stack: list[tuple[str, int]] = []
        self._pending: tuple[str, int, list[str]] | None = None
        self._out: list[str] = []
        self._closes: frozenset[str] = frozenset()
        self._boundary = False

    def run(self, text: str, start: int, line: int) -> Iterator[str | None]:
        self._closes = frozenset(t.upper() for t in _ALL_CLOSES.findall(text, start))
        pos = start
        for m in _TOKEN.finditer(text, start):
            line += text.count("\n", pos, m.start())
            pos = m.start()
            tag = m.group("tag")
            if tag is not None:
                name = tag.upper()
                if m.group("close"):
                    self._close(name, line)
                elif m.group("selfclose"):
                    self._resolve(line)
                else:
                    self._start(name, line)
                if not m.group(0).endswith(">"):
                    self.notes.add("tags without their closing '>' were read as closed", f"line {line}")
            else:
                piece = m.group("text")
                if piece is None:
                    cdata = m.group("cdata")
                    piece = (
                        cdata.replace("&", "&amp;").replace("<", "&lt;")
                        if cdata is not None
                        else ("&lt;" if m.group(0) == "<" else "")
                    )
                if piece:
                    self._text(piece, line)
            if self._boundary:
                self._boundary = False
                yield "".join(self._out)
                self._out.clear()
                yield None
            elif not self._stack and self._pending is None and self._out:
                yield "".join(self._out)
                self._out.clear()
                yield None  # a document ended
            elif len(self._out) >= CHUNK:
                yield "".join(self._out)
                self._out.clear()
        line += text.count("\n", pos)
        self._end_of_file(line)
        if self._out:
            yield "".join(self._out)
            self._out.clear()
            yield None

    # ------------------------------------------------------------------ tokens

    def _text(self, piece: str, line: int) -> None:
        if self._pending is not None:
            self._pending[2].append(piece)
        elif piece.strip() and not (not self._stack and _header_like(piece)):
            where = line + piece[: len(piece) - len(piece.lstrip())].count("\n")
            raise StatementError(
                "text outside any element", format=self.fmt, where=f"line {where}", code="bad_ofx"
            )

    def _start(self, name: str, line: int) -> None:
        self._resolve(line)
        if not self._stack and self._out:
            self._boundary = True  # what came before was a whole (if odd) document
        if not self._stack and name != "OFX":
            raise StatementError(
                f"<{name}> outside the <OFX> element", format=self.fmt, where=f"line {line}", code="bad_ofx"
            )
        self._implied_close(name, line)
        self._pending = (name, line, [])

    def _close(self, name: str, line: int) -> None:
        if self._pending is not None and self._pending[0] == name:
            if not self._resolve(line, closing=True):
                return  # the close tag of a leaf (or of an empty one, dropped)
        else:
            self._resolve(line)
        names = [tag for tag, _ in self._stack]
        if name not in names:
            if name in self._aggregates:
                self.notes.add("closing tags with nothing open to close were ignored", f"line {line}")
            return
        while self._stack:
            tag, opened = self._stack.pop()
            self._out.append(f"</{tag}>")
            if tag == name:
                break
            self.notes.add("elements left open were closed", f"line {opened}")

    def _resolve(self, line: int, *, closing: bool = False) -> bool:
        """Settle the last start tag: a leaf if text followed it, else an aggregate (known as one,
        or closed later in the file), else an empty leaf, dropped. True if it opened."""
        if self._pending is None:
            return False
        name, opened, parts = self._pending
        self._pending = None
        value = "".join(parts).strip()
        if value:
            self._out.append(f"<{name}>{value}</{name}>")
            self.lines.append(opened)
            return False
        if name in self._aggregates or (name not in self._leaves and name in self._closes and not closing):
            self._out.append(f"<{name}>")
            self.lines.append(opened)
            self._stack.append((name, opened))
            return True
        return False

    def _implied_close(self, name: str, line: int) -> None:
        """SGML's implied end: an aggregate ends when a tag comes that it may not hold but an
        enclosing one may (`<LEDGERBAL>` after an unclosed `<BANKTRANLIST>`, `<STMTTRN>` after
        an unclosed `<STMTTRN>`)."""
        if name not in self._aggregates and name not in self._leaves:
            return  # a vendor tag: no schema to go by
        while len(self._stack) > 1:
            top = self._stack[-1][0]
            allowed = self._children.get(top)
            if allowed is None or name in allowed:
                return
            if not any(name in self._children.get(tag, frozenset()) for tag, _ in self._stack[:-1]):
                return
            tag, opened = self._stack.pop()
            self._out.append(f"</{tag}>")
            self.notes.add("elements left open were closed", f"line {opened}")

    def _end_of_file(self, line: int) -> None:
        self._resolve(line)
        cut = next(((tag, opened) for tag, opened in reversed(self._stack) if tag in _TRUNCATION), None)
        if cut is not None:
            raise StatementError(
                f"the file ends inside <{cut[0]}> opened at line {cut[1]}: it looks cut off",
                format=self.fmt,
                where=f"line {line}",
                code="truncated",
            )
        if self._stack:
            self.notes.add("closing tags were missing at the end of the file")
        while self._stack:
            self._out.append(f"</{self._stack.pop()[0]}>")
