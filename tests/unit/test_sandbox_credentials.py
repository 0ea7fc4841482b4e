"""The sandbox registration file when several processes of a cluster start at once."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ledgerlink.bootstrap.sandbox import SandboxCredentials


def test_processes_starting_at_once_share_one_set_of_keys(tmp_path: Path) -> None:
    path = tmp_path / "data" / "harbor-client.json"
    barrier = threading.Barrier(8)
    results: list[SandboxCredentials] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            results.append(SandboxCredentials.load_or_create(path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({json.dumps(r.__dict__, sort_keys=True) for r in results}) == 1
    assert json.loads(path.read_text()) == results[0].__dict__
    assert [p.name for p in path.parent.iterdir()] == ["harbor-client.json"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_file_created_by_another_process_wins(tmp_path: Path) -> None:
    path = tmp_path / "harbor-client.json"
    first = SandboxCredentials.load_or_create(path)
    before = path.read_text()
    late = SandboxCredentials(**SandboxCredentials._fresh())
    assert late._publish(path) is False
    assert path.read_text() == before
    assert SandboxCredentials.load_or_create(path) == first
