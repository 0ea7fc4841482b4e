"""The checkpoint file: every signed tree head of the audit log, as a C2SP checkpoint, appended
to a file outside the database (`<data_dir>/audit-checkpoints`, ADR 0020).

Append-only by construction: opened with O_APPEND (never truncated, never rewritten), created
0600, every record written in one `write` and fsynced before `append` returns (the folder too
when the file is new). Symlinks are refused. Reading is incremental: only what was appended
since the last read is parsed (the file grows by one record per signed head).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ledgerlink.domain.checkpoint import DamagedRecord, Record, SignedCheckpoint, read_records

CHECKPOINT_FILE = "audit-checkpoints"


class FileCheckpointLog:
    def __init__(self, path: str | os.PathLike[str], *, default_origin: str) -> None:
        self._path = Path(path)
        self._default_origin = default_origin
        self._lock = threading.Lock()
        self._records: list[Record] = []
        self._offset = 0  # bytes of the file already parsed into `_records`
        self._lines = 0
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of what was parsed

    @property
    def location(self) -> str:
        return str(self._path)

    @property
    def origin(self) -> str:
        first = next((r for r in self.records() if isinstance(r, SignedCheckpoint)), None)
        return self._default_origin if first is None else first.checkpoint.origin

    def exists(self) -> bool:
        return self._path.is_file()

    def append(self, checkpoint: SignedCheckpoint) -> None:
        data = (checkpoint.note() + "\n").encode()
        created = not self._path.exists()
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            if created:
                os.fchmod(fd, 0o600)  # whatever the umask
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"short write to {self._path}")
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            directory = os.open(self._path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def records(self) -> list[Record]:
        with self._lock:
            try:
                fd = os.open(self._path, os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:
                self._reset(None)
                return []
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(f.fileno())
                identity = (st.st_dev, st.st_ino)
                if identity != self._identity or st.st_size < self._offset:
                    self._reset(identity)  # replaced or cut: read it all again
                f.seek(self._offset)
                rest = f.read()
            new, used, lines = read_records(rest, first_line=self._lines + 1)
            self._records.extend(new)
            self._offset += used
            self._lines += lines
            records = list(self._records)
            if rest[used:].strip(b"\n"):  # an incomplete last record
                records.append(DamagedRecord(line=self._lines + 1, reason="incomplete last record"))
            return records

    def _reset(self, identity: tuple[int, int] | None) -> None:
        self._records, self._offset, self._lines, self._identity = [], 0, 0, identity
