"""The data directory's databases are readable by their owner only (issue 14): ledgerlink.db
and keys.db, and SQLite's -wal and -shm beside them, are 0600 whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import fast_hasher

from ledgerlink.bootstrap import bootstrap
from ledgerlink.config import Settings
from ledgerlink.services.messaging import messenger

FILES = ("ledgerlink.db", "keys.db")


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual 022 umask, under which a file is created 0644 unless asked otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(data_dir: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in data_dir.iterdir()
            if p.name.startswith(FILES)}


@pytest.mark.usefixtures("open_umask")
async def test_the_databases_and_their_wal_files_are_created_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    container = await bootstrap(Settings(data_dir=data_dir, embedded_sandbox=False,
                                         second_sandbox_bank=False), hasher=fast_hasher())
    try:
        # A person: rows in the main database and a data key in the key store, both in WAL mode.
        await messenger.register(container.deps, handle="pat", display_name="Pat",
                                 password="correct horse battery")
        modes = _modes(data_dir)
    finally:
        await container.stop()
    for name in FILES:
        assert name in modes and f"{name}-wal" in modes and f"{name}-shm" in modes, sorted(modes)
    assert {name: oct(mode) for name, mode in modes.items() if mode != 0o600} == {}


@pytest.mark.usefixtures("open_umask")
async def test_a_database_left_0644_by_an_older_version_is_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for name in FILES:
        (data_dir / name).touch(mode=0o644)
        os.chmod(data_dir / name, 0o644)
    container = await bootstrap(Settings(data_dir=data_dir, embedded_sandbox=False,
                                         second_sandbox_bank=False), hasher=fast_hasher())
    try:
        modes = _modes(data_dir)
    finally:
        await container.stop()
    assert {name: oct(modes[name]) for name in FILES} == {name: "0o600" for name in FILES}
