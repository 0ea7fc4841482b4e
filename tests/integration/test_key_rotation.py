"""`ledgerlink keys rotate` re-wraps every data key while the platform keeps running."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from typer.testing import CliRunner

from ledgerlink.domain.chat import CardKind
from ledgerlink.entrypoints.cli import app
from ledgerlink.services.messaging import messenger


def _key_ids(path: Path) -> list[str]:
    return [k["id"] for k in json.loads(path.read_text())["keys"]]


async def test_rotation_rewraps_every_data_key_without_downtime(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    data_dir = stack.container.settings.data_dir
    old_ids = _key_ids(data_dir / "master.key")

    # The CLI runs its own event loop, as it would in another process.
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["keys", "rotate", "--data-dir", str(data_dir), "--retire-old"]
    )
    assert result.exit_code == 0, result.output
    assert "1 data key(s) re-wrapped" in result.output
    new_ids = _key_ids(data_dir / "master.key")
    assert len(new_ids) == 1 and new_ids[0] not in old_ids  # the old master key is gone

    # The running platform reads and writes on: cached keys, then a fresh unwrap.
    stack.deps.vault.forget(grant.person_id)
    await stack.bank.purchase("alice", merchant="IKEA", amount="99.00")
    await stack.container.drain()
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    assert [m.body["merchant"] for m in messages if m.kind is CardKind.TRANSACTION] == ["IKEA"]
    # New people get keys under the new master key.
    await messenger.register(stack.deps, handle="newbie", display_name="N",
                             password="another long passphrase")


def test_rotation_without_a_key_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["keys", "rotate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no_master_key" in result.output
