"""Tree heads as C2SP checkpoints: the signed-note text that transparency-log tools read.

A checkpoint (c2sp.org/tlog-checkpoint) is a signed note (c2sp.org/signed-note) whose text is
three lines, the log's origin, the tree size in decimal and the base64 RFC 6962 root hash, and
whose signature lines are `— <key name> base64(4-byte key id || Ed25519 signature)`. The key
id is `SHA-256(key name || 0x0A || 0x01 || public key)[:4]`. Verifier keys in the Go
`sumdb/note` form (`<name>+<hex key id>+base64(0x01 || public key)`) let `note.Open` and the
transparency-dev tools check them as they are.

The checkpoint file (ADR 0020) holds one signed note after another, each followed by one empty
line. Pure: no keys and no I/O here, only the bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

ED25519 = 0x01  # the signed-note signature type of Ed25519
_DASH = "\u2014"  # em dash: every signature line starts with it and a space
_DASH_BYTES = (_DASH + " ").encode()
_ED25519_SIGNATURE = 64


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def valid_key_name(name: str) -> bool:
    """signed-note: key names are non-empty, with no Unicode spaces and no plus."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name) and name.isprintable()


def origin_for(public_url: str) -> str:
    """The log's origin (and note key name) for a platform reached at `public_url`: a
    schema-less URL, e.g. `https://ledgerlink.example` -> `ledgerlink.example/audit`."""
    parts = urlsplit(public_url)
    base = (parts.netloc + parts.path).rstrip("/") or "ledgerlink"
    origin = "".join("-" if c == "+" or c.isspace() else c for c in f"{base}/audit")
    return origin if valid_key_name(origin) else "ledgerlink/audit"


def note_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 note key (signed-note, "Ed25519 signatures")."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The key in the Go `sumdb/note` verifier-key form: `<name>+<key id hex>+<base64>`."""
    return f"{name}+{note_key_id(name, public_key).hex()}+{_b64(bytes([ED25519]) + public_key)}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The note text: origin, tree size, root hash (no extension lines)."""

    origin: str
    tree_size: int
    root_hash: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.tree_size}\n{_b64(self.root_hash)}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint's note text; ValueError if it is not one. Extension lines are
        allowed by the format and ignored here (this log never writes any)."""
        if not text.endswith("\n"):
            raise ValueError("the note text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or any(not line for line in lines):
            raise ValueError("a checkpoint is at least three non-empty lines")
        origin, size, root = lines[:3]
        if not size.isascii() or not size.isdigit() or (size != "0" and size.startswith("0")):
            raise ValueError("the tree size must be decimal without leading zeroes")
        root_hash = _unb64(root)
        if len(root_hash) != hashlib.sha256().digest_size:
            raise ValueError("the root hash must be 32 bytes")
        return cls(origin=origin, tree_size=int(size), root_hash=root_hash)


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: bytes  # 4 bytes
    signature: bytes

    def line(self) -> str:
        return f"{_DASH} {self.name} {_b64(self.key_id + self.signature)}\n"

    @classmethod
    def parse(cls, line: str) -> NoteSignature:
        """One signature line without its newline; ValueError if it is not one."""
        if not line.startswith(_DASH + " "):
            raise ValueError("a signature line starts with an em dash and a space")
        name, _, blob = line[2:].partition(" ")
        if not valid_key_name(name) or not blob or " " in blob:
            raise ValueError("a signature line is: em dash, key name, base64 signature")
        raw = _unb64(blob)
        if len(raw) < 5:
            raise ValueError("a signature is a 4-byte key id and the signature bytes")
        return cls(name=name, key_id=raw[:4], signature=raw[4:])


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    signatures: tuple[NoteSignature, ...]

    @property
    def tree_size(self) -> int:
        return self.checkpoint.tree_size

    @property
    def root_hash(self) -> bytes:
        return self.checkpoint.root_hash

    def note(self) -> str:
        """The whole signed note: text, an empty line, the signature lines."""
        return self.checkpoint.text() + "\n" + "".join(s.line() for s in self.signatures)

    def ed25519_signatures(self) -> list[NoteSignature]:
        return [s for s in self.signatures if len(s.signature) == _ED25519_SIGNATURE]


def parse_note(note: str) -> SignedCheckpoint:
    """One signed note holding a checkpoint; ValueError if it is not one."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise ValueError("a signed note has no control characters but newlines")
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise ValueError("a signed note is its text, an empty line and signature lines")
    signatures = tuple(NoteSignature.parse(line) for line in sigs[:-1].split("\n"))
    return SignedCheckpoint(Checkpoint.parse(text + "\n"), signatures)


@dataclass(frozen=True, slots=True)
class DamagedRecord:
    """A stretch of the checkpoint file that is no signed checkpoint (its first line number)."""

    line: int
    reason: str


Record = SignedCheckpoint | DamagedRecord


def read_records(data: bytes, *, first_line: int = 1) -> tuple[list[Record], int, int]:
    """The complete records at the start of `data` (a checkpoint file, or the part of it
    after what was read before): each signed note ends with its signature lines and one empty
    line. Returns the records, how many bytes they took and how many lines, so that a reader
    can continue from there; an incomplete last record (a write cut short) is left unread."""
    records: list[Record] = []
    pos = consumed = 0
    line_no = first_line
    while pos < len(data):
        if data.startswith(b"\n", pos):  # a stray empty line between records
            pos += 1
            line_no += 1
            consumed = pos
            continue
        text_end = data.find(b"\n\n", pos)  # the note text has no empty line
        if text_end < 0 or text_end + 2 >= len(data):
            break
        if not data.startswith(_DASH_BYTES, text_end + 2):
            records.append(DamagedRecord(line=line_no, reason="no signature lines after the text"))
            end = text_end + 2
        else:
            sigs_end = data.find(b"\n\n", text_end + 2)
            if sigs_end < 0:
                break
            end = sigs_end + 2
            try:
                records.append(parse_note(data[pos : sigs_end + 1].decode("utf-8")))
            except (UnicodeDecodeError, ValueError) as exc:
                reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
                records.append(DamagedRecord(line=line_no, reason=reason))
        line_no += data.count(b"\n", pos, end)
        pos = consumed = end
    return records, consumed, line_no - first_line
