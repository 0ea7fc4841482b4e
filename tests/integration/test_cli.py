from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from ledgerlink.entrypoints.cli import app

runner = CliRunner()


def test_db_upgrade_creates_the_schema_and_is_safe_to_repeat(tmp_path: Path) -> None:
    for _ in range(2):
        result = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert "up to date" in result.output
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ledgerlink.db'}")
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert {"persons", "links", "accounts", "transactions", "threads", "messages", "inbox"} <= tables


def test_the_commands_are_all_there() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "serve", "sandbox", "db"):
        assert command in result.output
