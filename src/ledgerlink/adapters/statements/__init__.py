"""Statement file readers: bytes in, a `domain.statements.ParsedFile` out, or a precise
`StatementError`. One module per format; each uses the well-kept library for it (ofxtools,
quiffen, mt-940, lxml) behind tolerant pre-processing for what real files do.

`read_statement` is the one entry: it detects the format when the caller does not name it.
"""

from __future__ import annotations

from ledgerlink.domain.statements import (
    CsvMapping,
    CsvPreview,
    ParsedFile,
    ReadOptions,
    StatementError,
    StatementFormat,
)

__all__ = ["StatementReader", "detect_csv_mapping", "detect_format", "preview_csv", "read_statement"]

_EXTENSIONS = {
    ".ofx": StatementFormat.OFX,
    ".qfx": StatementFormat.QFX,
    ".qif": StatementFormat.QIF,
    ".csv": StatementFormat.CSV,
    ".tab": StatementFormat.CSV,  # ABN AMRO's TXT*.TAB: tab-separated
    ".sta": StatementFormat.MT940,
    ".mt940": StatementFormat.MT940,
    ".940": StatementFormat.MT940,
    ".942": StatementFormat.MT940,
    ".camt": StatementFormat.CAMT,
}


def detect_format(data: bytes, filename: str | None = None) -> StatementFormat:
    """The format of a file from its first bytes, then its name. Raises StatementError when
    neither says."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf\x00\r\n\t ").lower()
    if b"ofxheader" in head or b"<ofx>" in head or b"<?ofx" in head:
        return StatementFormat.QFX if b"intu.bid" in data[:8192].lower() else StatementFormat.OFX
    if (head.startswith(b"<?xml") or head.startswith(b"<document")) and (
        b"camt.05" in head or b"bktocstmr" in head or b"<document" in head
    ):
        return StatementFormat.CAMT
    if head.startswith(b"!type:") or head.startswith(b"!account") or head.startswith(b"!option"):
        return StatementFormat.QIF
    if b":20:" in head and (b":25:" in head or b":60f:" in head or b":61:" in head):
        return StatementFormat.MT940
    if head.startswith(b"{1:") or head.startswith(b"\x01{1:"):
        return StatementFormat.MT940
    if filename:
        lowered = filename.lower()
        for ext, fmt in _EXTENSIONS.items():
            if lowered.endswith(ext):
                return fmt
        if lowered.endswith(".xml"):
            return StatementFormat.CAMT
        if lowered.endswith(".txt") and (b"," in head or b";" in head or b"\t" in head):
            return StatementFormat.CSV
    if _looks_tabular(head):
        return StatementFormat.CSV
    raise StatementError(
        "the format could not be recognised: expected OFX/QFX, QIF, CSV, camt.05x or MT940",
        format=None,
        code="unknown_format",
    )


def _looks_tabular(head: bytes) -> bool:
    """Lines that one delimiter splits into the same number (2 or more) of fields."""
    lines = [line for line in head.splitlines()[:12] if line.strip()]
    if len(lines) < 2:
        return False
    return any(
        len({line.count(sep) for line in lines[-min(5, len(lines)) :]}) == 1 and lines[-1].count(sep) >= 1
        for sep in (b",", b";", b"\t", b"|")
    )


def read_statement(
    data: bytes, *, filename: str | None = None, options: ReadOptions | None = None
) -> ParsedFile:
    options = options or ReadOptions()
    fmt = options.format or detect_format(data, filename)
    if not data.strip(b"\x00\r\n\t \xef\xbb\xbf"):
        return ParsedFile(format=fmt, statements=())
    if fmt in (StatementFormat.OFX, StatementFormat.QFX):
        from ledgerlink.adapters.statements.ofx import parse_ofx

        return parse_ofx(data, options, fmt)
    if fmt is StatementFormat.QIF:
        from ledgerlink.adapters.statements.qif import parse_qif

        return parse_qif(data, options)
    if fmt is StatementFormat.CSV:
        from ledgerlink.adapters.statements.csv import parse_csv

        return parse_csv(data, options)
    if fmt is StatementFormat.CAMT:
        from ledgerlink.adapters.statements.camt import parse_camt

        return parse_camt(data, options)
    from ledgerlink.adapters.statements.mt940 import parse_mt940

    return parse_mt940(data, options)


def detect_csv_mapping(data: bytes, *, options: ReadOptions | None = None) -> CsvMapping:
    """The column mapping a CSV file would be read with (for the preview page)."""
    from ledgerlink.adapters.statements.csv import detect_csv_mapping as detect

    return detect(data, options=options)


def preview_csv(
    data: bytes, mapping: CsvMapping | None = None, rows: int = 10, *, options: ReadOptions | None = None
) -> CsvPreview:
    """The header, the first rows as read under `mapping` (detected when None) and every row's
    problem: what the person sees, and corrects, before anything is stored."""
    from ledgerlink.adapters.statements.csv import preview_csv as preview

    return preview(data, mapping, rows, options=options)


class StatementReader:
    """The `services.imports.ports.StatementReader` the composition root hands the importer."""

    def read(self, data: bytes, *, filename: str | None, options: ReadOptions) -> ParsedFile:
        return read_statement(data, filename=filename, options=options)

    def detect_csv_mapping(self, data: bytes, *, options: ReadOptions | None = None) -> CsvMapping:
        return detect_csv_mapping(data, options=options)

    def preview_csv(
        self,
        data: bytes,
        mapping: CsvMapping | None = None,
        rows: int = 10,
        *,
        options: ReadOptions | None = None,
    ) -> CsvPreview:
        return preview_csv(data, mapping, rows, options=options)
