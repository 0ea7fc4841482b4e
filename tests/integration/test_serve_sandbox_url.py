"""`ledgerlink serve` and an external sandbox bank (issue 12): LEDGERLINK_SANDBOX_URL, the
settings field for sandbox banks running as their own process, is honoured like
`--sandbox-url`; then neither built-in bank is embedded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledgerlink.config import Settings
from ledgerlink.domain.errors import DomainError
from ledgerlink.entrypoints.cli import app, commands

runner = CliRunner()


class _Built(DomainError):
    code = "built"


def _serve_settings(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> Settings:
    """The settings `serve` bootstraps with (the bootstrap itself is stopped right there)."""
    seen: list[Settings] = []

    async def fake_bootstrap(settings: Settings, **_: Any) -> None:
        seen.append(settings)
        raise _Built("stopped after the settings were built")

    monkeypatch.setattr(commands, "bootstrap", fake_bootstrap)
    result = runner.invoke(app, ["serve", *args])
    assert seen, result.output
    return seen[0]


def test_serve_uses_the_sandbox_bank_named_by_the_environment_and_embeds_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEDGERLINK_SANDBOX_URL", "http://127.0.0.1:18001/")
    settings = _serve_settings(monkeypatch, ["--data-dir", str(tmp_path)])
    assert settings.resolved_sandbox_url == "http://127.0.0.1:18001"
    assert not settings.embedded_sandbox and not settings.second_sandbox_bank


def test_the_sandbox_url_option_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEDGERLINK_SANDBOX_URL", "http://127.0.0.1:18001")
    option = ["--sandbox-url", "http://127.0.0.1:18002"]
    settings = _serve_settings(monkeypatch, ["--data-dir", str(tmp_path), *option])
    assert settings.resolved_sandbox_url == "http://127.0.0.1:18002"
    assert not settings.embedded_sandbox


def test_without_a_sandbox_url_serve_embeds_both_sandbox_banks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LEDGERLINK_SANDBOX_URL", raising=False)
    settings = _serve_settings(monkeypatch, ["--data-dir", str(tmp_path), "--port", "18100"])
    assert settings.embedded_sandbox and settings.second_sandbox_bank
    assert settings.resolved_sandbox_url == "http://127.0.0.1:18101"
