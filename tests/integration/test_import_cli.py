"""`ledgerlink import` as a person runs it: a real subprocess on a real data directory, with
published fixture files (tests/fixtures/README.md)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from tests.conftest import fast_hasher, running_stack

from ledgerlink.bootstrap import bootstrap
from ledgerlink.config import Settings
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger

FIXTURES = Path(__file__).parents[1] / "fixtures" / "statements"
TWO_ACCOUNTS = FIXTURES / "ofx" / "ofxparse_multiple_accounts.ofx"  # 2 EUR accounts, 4 + 1 entries
MT940 = FIXTURES / "mt940" / "jejik-rabobank-iban.sta"  # 2 statements of one IBAN, 2 + 2 entries
NOT_OFX = FIXTURES / "ofx" / "ours_fail_no_ofx.ofx"
KEYS = {"file", "format", "status", "accounts", "added", "merged", "skipped", "error"}


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINK_")}
    env["LEDGERLINK_RETENTION_TRANSACTIONS_DAYS"] = "0"  # the fixtures are years old: keep them
    script = Path(sys.executable).with_name("ledgerlink")
    return subprocess.run(
        [str(script), "import", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    for line in lines:
        assert set(line) >= KEYS, line
    return lines


def _clean(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr


async def _data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, embedded_sandbox=False, second_sandbox_bank=False)
    container = await bootstrap(settings, hasher=fast_hasher())
    try:
        await messenger.register(container.deps, handle="pat", display_name="Pat", password="correct horse")
    finally:
        await container.stop()
    return data


async def _transactions(data: Path) -> int:
    container = await bootstrap(Settings(data_dir=data, embedded_sandbox=False, second_sandbox_bank=False))
    try:
        async with container.engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM transactions"))).scalar_one())
    finally:
        await container.stop()


async def test_json_lines_exit_codes_and_a_second_run_adds_nothing(tmp_path: Path) -> None:
    data = await _data_dir(tmp_path)
    first = await asyncio.to_thread(
        _cli, TWO_ACCOUNTS, MT940, "--person", "pat", "--data-dir", data, "--yes", "--json"
    )
    _clean(first)
    assert first.returncode == 0, first.stderr
    ofx, mt940 = _lines(first)
    assert (ofx["file"], ofx["format"], ofx["status"], ofx["error"]) == (
        TWO_ACCOUNTS.name,
        "ofx",
        "imported",
        None,
    )
    assert (len(ofx["accounts"]), ofx["added"], ofx["merged"], ofx["skipped"]) == (2, 5, 0, 0)
    assert (mt940["format"], mt940["status"], len(mt940["accounts"]), mt940["added"]) == (
        "mt940",
        "imported",
        1,
        4,
    )
    again = await asyncio.to_thread(
        _cli, TWO_ACCOUNTS, MT940, "--person", "pat", "--data-dir", data, "--json"
    )
    assert again.returncode == 0, again.stderr
    assert [(r["added"], r["skipped"], r["accounts"]) for r in _lines(again)] == [
        (0, 5, ofx["accounts"]),
        (0, 4, mt940["accounts"]),
    ]
    assert await _transactions(data) == 9


async def test_a_bad_file_is_a_clear_error_with_exit_1_and_the_good_one_still_imports(tmp_path: Path) -> None:
    data = await _data_dir(tmp_path)
    result = await asyncio.to_thread(
        _cli, NOT_OFX, MT940, "--person", "pat", "--data-dir", data, "--yes", "--json"
    )
    _clean(result)
    assert result.returncode == 1
    bad, good = _lines(result)
    assert (bad["status"], bad["format"], bad["error"]["code"]) == ("failed", "ofx", "not_ofx")
    assert bad["error"]["detail"].startswith("OFX, line 1: ")
    assert (good["status"], good["added"]) == ("imported", 4)
    human = await asyncio.to_thread(_cli, NOT_OFX, "--person", "pat", "--data-dir", data)
    _clean(human)
    assert human.returncode == 1
    assert f"{NOT_OFX.name}: error (not_ofx): OFX, line 1:" in human.stderr and human.stdout == ""


async def test_an_unconfirmed_account_stores_nothing_and_says_what_to_pass(tmp_path: Path) -> None:
    data = await _data_dir(tmp_path)
    result = await asyncio.to_thread(_cli, MT940, "--person", "pat", "--data-dir", data, "--json")
    assert result.returncode == 1
    [line] = _lines(result)
    assert (line["status"], line["needs"], line["added"]) == ("needs_confirmation", "account", 0)
    assert [p["proposal"] for p in line["proposals"]] == ["create"]
    human = await asyncio.to_thread(_cli, MT940, "--person", "pat", "--data-dir", data)
    assert "--yes creates" in human.stderr
    assert await _transactions(data) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--person", "nobody"], "no person with handle 'nobody'"),
        (["--person", "pat", "--format", "pdf"], "pdf"),
        (["--person", "pat", "--currency", "EURO"], "not an ISO 4217 code"),
        ([], "--person"),
    ],
)
async def test_bad_usage_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    data = await _data_dir(tmp_path)
    result = await asyncio.to_thread(_cli, MT940, "--data-dir", data, *args)
    _clean(result)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


async def test_it_imports_into_a_running_servers_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with running_stack(tmp_path, f"sqlite:///{data / 'ledgerlink.db'}") as stack:
        person_id = await messenger.register(
            stack.deps, handle="demo", display_name="Demo", password="ledgerlink sandbox"
        )
        result = await asyncio.to_thread(
            _cli, MT940, "--person", "demo", "--data-dir", data, "--yes", "--json"
        )
        _clean(result)
        assert result.returncode == 0, result.stderr
        [line] = _lines(result)
        threads = await messenger.list_threads(stack.deps, Grant.for_person(person_id))
        files = next(t for t in threads if t.title == "Statement files")
        cards = await messenger.thread_messages(stack.deps, Grant.for_person(person_id), files.id)
    assert line["added"] == 4
    assert [c.body["text"].split(";")[0] for c in cards] == [
        f"4 transactions from {MT940.name}, 1 Jan – 15 Jan 2013"
    ]
