"""The messenger's statement upload read in memory: fields and file, the size cap, a broken body,
and uploads waiting between steps (bound to their person, gone after their time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.requests import Request

from ledgerlink.entrypoints.web.imports_upload import STAGE_MINUTES, Staging, UploadRefused, read_upload

BOUNDARY = "----llboundary"


def _body(fields: dict[str, str], file: tuple[str, bytes] | None) -> bytes:
    out = b""
    for name, value in fields.items():
        out += f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
    if file is not None:
        out += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file[0]}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + file[1] + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def _request(body: bytes, *, chunk: int = 7000, length: bool = True) -> Request:
    headers = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]
    if length:
        headers.append((b"content-length", str(len(body)).encode()))
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]

    async def receive() -> dict[str, object]:
        part = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": part, "more_body": bool(chunks)}

    return Request({"type": "http", "method": "POST", "path": "/imports", "headers": headers}, receive)


async def test_fields_and_the_file_are_read_in_memory() -> None:
    data = bytes(range(256)) * 100  # any bytes, CR LF and boundary-like dashes included
    upload = await read_upload(_request(_body({"csrf": "tok", "currency": "EUR"}, ("C:\\x\\jan.csv", data))))
    assert upload.fields == {"csrf": "tok", "currency": "EUR"}
    assert upload.filename == "jan.csv"  # no client path
    assert upload.data == data


async def test_no_file_chosen_is_no_file() -> None:
    upload = await read_upload(_request(_body({"csrf": "tok"}, ("", b""))))
    assert upload.data is None


@pytest.mark.parametrize("declared", [True, False])
async def test_a_file_over_the_limit_is_refused_with_a_clear_error(declared: bool) -> None:
    body = _body({"csrf": "tok"}, ("big.ofx", b"x" * 5000))
    with pytest.raises(UploadRefused) as caught:
        await read_upload(_request(body, length=declared), limit=1000)
    assert caught.value.status == 413 and caught.value.code == "file_too_large"
    assert "larger than" in caught.value.detail and "ledgerlink import" in caught.value.detail


async def test_a_cut_off_or_non_multipart_body_is_a_400_not_a_crash() -> None:
    with pytest.raises(UploadRefused) as caught:
        await read_upload(_request(b"--" + BOUNDARY.encode() + b"\r\nContent-Disp\x00\x00"))
    assert caught.value.status == 400
    scope = {"type": "http", "method": "POST", "path": "/imports",
             "headers": [(b"content-type", b"application/x-www-form-urlencoded")]}
    plain = Request(scope, _request(b"").receive)
    with pytest.raises(UploadRefused, match="multipart/form-data"):
        await read_upload(plain)


async def test_two_files_in_one_form_are_refused() -> None:
    first = _body({}, ("a.ofx", b"1")).replace(f"--{BOUNDARY}--\r\n".encode(), b"")
    body = first + _body({}, ("b.ofx", b"2"))
    with pytest.raises(UploadRefused, match="one statement file"):
        await read_upload(_request(body))


def test_a_waiting_upload_is_its_persons_only_and_expires() -> None:
    staging = Staging()
    now = datetime(2025, 1, 10, 12, tzinfo=UTC)
    staged = staging.add(person_id="per_a", data=b"x", filename="a.ofx", now=now)
    assert staging.get(staged.id, "per_b", now=now) is None
    assert staging.get(staged.id, "per_a", now=now) is staged
    assert staging.get(staged.id, "per_a", now=now + timedelta(minutes=STAGE_MINUTES)) is None


def test_a_person_has_at_most_three_uploads_waiting() -> None:
    staging = Staging()
    now = datetime(2025, 1, 10, 12, tzinfo=UTC)
    ids = [staging.add(person_id="per_a", data=b"x", filename=f"{i}.ofx", now=now + timedelta(seconds=i)).id
           for i in range(4)]
    later = now + timedelta(seconds=5)
    assert staging.get(ids[0], "per_a", now=later) is None
    assert all(staging.get(i, "per_a", now=later) is not None for i in ids[1:])
