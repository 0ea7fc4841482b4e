"""The statement upload's two pieces that are not pages: reading a multipart body into memory
with a size cap, and holding the uploaded file between the import's steps (issue 10).

The file is read in memory, never spooled to a temporary file (Starlette's form parser
writes uploads over 1 MB to disk in clear): a bank statement is personal data. Between the
steps (CSV preview, date order, which account) it stays in this process's memory for
`STAGE_MINUTES`, bound to the person who uploaded it and reachable only through a random id;
nothing of it is stored in the database until the import runs (ADR 0022).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from ledgerlink.domain.statements import CsvMapping, DateOrder

MAX_UPLOAD_BYTES = 16 * 1024 * 1024  # larger files: the CLI (`ledgerlink import`)
_FORM_SLACK = 64 * 1024  # the multipart framing and the small fields around the file
_MAX_FIELDS = 20
STAGE_MINUTES = 30
_PER_PERSON = 3  # uploads waiting for a step, per person
_TOTAL_BYTES = 128 * 1024 * 1024  # every waiting upload of this process together


class UploadRefused(Exception):
    """A body that is no usable upload. `status`: 413 too large, else 400."""

    def __init__(self, detail: str, *, status: int = 400, code: str = "bad_upload") -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.code = code


@dataclass(slots=True)
class Upload:
    fields: dict[str, str]
    filename: str | None
    data: bytes | None  # None: the form had no file


def _too_large(limit: int) -> UploadRefused:
    return UploadRefused(f"the file is larger than {limit // (1024 * 1024)} MB, the most the messenger "
                         "takes; import it with the command line (ledgerlink import)",
                         status=413, code="file_too_large")


async def read_upload(request: Request, *, limit: int = MAX_UPLOAD_BYTES) -> Upload:
    """The form fields and the one file of a multipart/form-data body, in memory."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadRefused("the upload must be sent as multipart/form-data")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _FORM_SLACK:
        raise _too_large(limit)
    parts: list[dict[str, Any]] = []
    header: dict[str, bytearray] = {"field": bytearray(), "value": bytearray()}

    def on_part_begin() -> None:
        if len(parts) >= _MAX_FIELDS:
            raise UploadRefused("the form has too many fields")
        parts.append({"headers": {}, "data": bytearray()})

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        parts[-1]["headers"][bytes(header["field"]).lower()] = bytes(header["value"])
        header["field"], header["value"] = bytearray(), bytearray()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        body: bytearray = parts[-1]["data"]
        body += data[start:end]
        if len(body) > limit:
            raise _too_large(limit)

    callbacks = {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                 "on_header_value": on_header_value, "on_header_end": on_header_end,
                 "on_part_data": on_part_data}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + _FORM_SLACK:
                raise _too_large(limit)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise UploadRefused("the upload was cut off or is not a well-formed form; please try again") from None
    return _collect(parts)


def _collect(parts: list[dict[str, Any]]) -> Upload:
    fields: dict[str, str] = {}
    filename: str | None = None
    data: bytes | None = None
    for part in parts:
        _kind, disp = parse_options_header(part["headers"].get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in disp:
            if name != "file" or data is not None:
                raise UploadRefused("send one statement file at a time")
            filename = disp[b"filename"].decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1]
            data = bytes(part["data"])
            continue
        try:
            fields[name] = bytes(part["data"]).decode("utf-8")
        except UnicodeDecodeError:
            raise UploadRefused(f"the form field {name[:40]!r} is not text") from None
    if data is not None and not filename and not data:
        data = None  # the browser sends an empty part when no file was chosen
    return Upload(fields=fields, filename=filename, data=data)


@dataclass(slots=True)
class Staged:
    """An uploaded file between the import's steps, and what the person has said so far."""

    id: str
    person_id: str
    data: bytes
    filename: str
    expires: datetime
    thread_id: str | None = None
    account_id: str | None = None
    currency: str | None = None
    date_order: DateOrder | None = None
    csv: bool = False
    mapping: CsvMapping | None = None  # CSV: the mapping the person confirmed or corrected
    mapping_done: bool = False  # CSV: the preview was accepted
    choices: dict[int, str] = field(default_factory=dict)
    result: Any = None  # the importer's last NEEDS_CONFIRMATION answer (services.imports.results)
    error: str | None = None  # what the confirmation page must say (e.g. a currency is needed)


class Staging:
    """Uploads waiting for the person's next step, in this process's memory only."""

    def __init__(self) -> None:
        self._items: dict[str, Staged] = {}

    def _sweep(self, now: datetime) -> None:
        for key in [k for k, v in self._items.items() if v.expires <= now]:
            del self._items[key]

    def add(self, *, person_id: str, data: bytes, filename: str, now: datetime, **extra: Any) -> Staged:
        self._sweep(now)
        mine = sorted((v for v in self._items.values() if v.person_id == person_id), key=lambda v: v.expires)
        for old in mine[: max(0, len(mine) - _PER_PERSON + 1)]:
            del self._items[old.id]  # the oldest waiting upload of this person gives way
        while self._items and sum(len(v.data) for v in self._items.values()) + len(data) > _TOTAL_BYTES:
            del self._items[min(self._items.values(), key=lambda v: v.expires).id]
        staged = Staged(id=secrets.token_urlsafe(18), person_id=person_id, data=data, filename=filename,
                        expires=now + timedelta(minutes=STAGE_MINUTES), **extra)
        self._items[staged.id] = staged
        return staged

    def get(self, staged_id: str, person_id: str, *, now: datetime) -> Staged | None:
        self._sweep(now)
        staged = self._items.get(staged_id)
        return staged if staged is not None and staged.person_id == person_id else None

    def drop(self, staged_id: str) -> None:
        self._items.pop(staged_id, None)


def staging_of(request: Request) -> Staging:
    """The app's staging area, made on first use (one per app, like its live-update hub)."""
    found = getattr(request.app.state, "import_staging", None)
    if not isinstance(found, Staging):
        found = Staging()
        request.app.state.import_staging = found
    return found
