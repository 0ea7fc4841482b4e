"""Checkpoints are C2SP signed notes byte for byte: checked against the reference vector of Go's
golang.org/x/mod/sumdb/note, which the C2SP tools share, and the file of them reads back."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledgerlink.domain.checkpoint import (
    Checkpoint,
    DamagedRecord,
    NoteSignature,
    SignedCheckpoint,
    note_key_id,
    origin_for,
    parse_note,
    read_records,
    verifier_key,
)

# golang.org/x/mod/sumdb/note, note_test.go and its package example: the signer key, its
# verifier key and the note it signs (Ed25519 is deterministic, so ours must be the same).
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE_LINE = (
    "\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def _go_key() -> tuple[Ed25519PrivateKey, bytes]:
    raw = base64.b64decode(GO_SIGNER.split("+", 4)[4])
    assert raw[0] == 0x01
    private = Ed25519PrivateKey.from_private_bytes(raw[1:])
    return private, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_key_id_verifier_key_and_signature_line_match_the_go_reference() -> None:
    private, public = _go_key()
    assert note_key_id("PeterNeumann", public).hex() == "c74f20a3"
    assert verifier_key("PeterNeumann", public) == GO_VERIFIER
    line = NoteSignature("PeterNeumann", note_key_id("PeterNeumann", public), private.sign(GO_TEXT.encode()))
    assert line.line() == GO_SIGNATURE_LINE


def _signed(size: int = 20852163, origin: str = "example.com/behind-the-sofa") -> SignedCheckpoint:
    private, public = _go_key()
    root = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    checkpoint = Checkpoint(origin=origin, tree_size=size, root_hash=root)
    sig = NoteSignature(origin, note_key_id(origin, public), private.sign(checkpoint.text().encode()))
    return SignedCheckpoint(checkpoint, (sig,))


def test_a_checkpoint_is_the_three_line_note_of_the_spec_and_parses_back() -> None:
    signed = _signed()
    note = signed.note()
    # the example of c2sp.org/tlog-checkpoint
    assert note.startswith(
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    )
    assert note.splitlines()[-1].startswith("\u2014 example.com/behind-the-sofa ")
    assert parse_note(note) == signed
    raw = base64.b64decode(note.splitlines()[-1].split(" ")[2])
    assert len(raw) == 4 + 64  # key id, then the Ed25519 signature


@pytest.mark.parametrize(
    "note",
    [
        "origin\n012\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u2014 o AAAAAAA=\n",  # leading zero
        "origin\n12\nnot-base64\n\n\u2014 o AAAAAAA=\n",
        "origin\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # no signatures
        "origin\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n- o AAAAAAA=\n",  # not an em dash
        "origin\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u2014 a+b AAAAAAA=\n",  # plus in name
        "origin\n12\x01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u2014 o AAAAAAA=\n",  # control
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):  # each says what is wrong
        parse_note(note)


def test_the_file_reads_back_record_by_record_and_names_damage_by_line() -> None:
    a, b = _signed(5), _signed(9)
    data = (a.note() + "\n" + "garbage\nmore\n\nnot a signature\n\n" + b.note() + "\n").encode()
    records, used, lines = read_records(data)
    assert records[0] == a and records[-1] == b
    assert [type(r) for r in records] == [SignedCheckpoint, DamagedRecord, DamagedRecord, SignedCheckpoint]
    assert isinstance(records[1], DamagedRecord) and records[1].line == 7  # a's five lines and its empty one
    assert used == len(data) and lines == data.count(b"\n")
    torn = (a.note() + "\n" + b.note()[:-20]).encode()  # a write cut short: left for later
    records, used, _ = read_records(torn)
    assert records == [a] and used == len((a.note() + "\n").encode())


def test_origin_is_a_schema_less_url_usable_as_key_name() -> None:
    assert origin_for("https://ledgerlink.example") == "ledgerlink.example/audit"
    assert origin_for("http://127.0.0.1:8000/") == "127.0.0.1:8000/audit"
    assert origin_for("https://x.example/a+b c") == "x.example/a-b-c/audit"
