"""Real `ledgerlink serve --role ...` processes for the scale-out tests (issue 12): spawned with
the scale-out profile's environment, their JSON log lines collected as they come, stopped or
killed by PID."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

LEDGERLINK = str(Path(sys.executable).with_name("ledgerlink"))


class Proc:
    """One child process; `logs` holds its structured log lines (dicts) in order."""

    def __init__(self, args: list[str], env: Mapping[str, str], name: str) -> None:
        self.name = name
        self.logs: list[dict[str, Any]] = []
        self.text: list[str] = []
        self._popen = subprocess.Popen(
            args, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._popen.pid

    def alive(self) -> bool:
        return self._popen.poll() is None

    def _read(self) -> None:
        assert self._popen.stdout is not None
        for line in self._popen.stdout:
            self.text.append(line)
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    self.logs.append(json.loads(line))

    def events(self, name: str, **fields: Any) -> list[dict[str, Any]]:
        return [entry for entry in list(self.logs) if entry.get("event") == name
                and all(entry.get(k) == v for k, v in fields.items())]

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when the machine loses the process."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self._popen.wait(timeout=10)
        self._close()

    def stop(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self._popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self._popen.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        self._reader.join(timeout=5)
        if self._popen.stdout is not None and not self._reader.is_alive():
            self._popen.stdout.close()

    def tail(self, lines: int = 30) -> str:
        return "".join(self.text[-lines:])


def serve(role: str, *, data_dir: Path, env: Mapping[str, str], port: int = 0, name: str = "",
          sandbox_url: str | None = None) -> Proc:
    """`sandbox_url`: the bank to use (`--sandbox-url`, as LEDGERLINK_SANDBOX_URL in `env`
    would); without either `serve` embeds its own sandbox banks on port + 1 and + 2."""
    args = [LEDGERLINK, "serve", "--role", role, "--data-dir", str(data_dir)]
    if port:
        args += ["--port", str(port)]
    if sandbox_url:
        args += ["--sandbox-url", sandbox_url]
    return Proc(args, env, name or role)


def scaleout_env(*, database_url: str, nats_url: str, root: str, **settings: object) -> dict[str, str]:
    """LEDGERLINK_* variables for the scale-out profile; `settings` are more of them, by field."""
    env = {"LEDGERLINK_DATABASE_URL": database_url, "LEDGERLINK_NATS_URL": nats_url,
           "LEDGERLINK_NATS_ROOT": root, "LEDGERLINK_LOG_LEVEL": "info"}
    env.update({f"LEDGERLINK_{key.upper()}": str(value) for key, value in settings.items()})
    return env


async def until(check: Callable[[], bool], *, seconds: float, what: str,
                procs: tuple[Proc, ...] = ()) -> float:
    """Poll `check` until it holds; the time it took. On time-out, the processes' last lines."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < seconds:
        if check():
            return loop.time() - started
        await asyncio.sleep(0.05)
    tails = "\n".join(f"--- {p.name} (pid {p.pid}, alive {p.alive()}):\n{p.tail()}" for p in procs)
    raise AssertionError(f"{what}: not within {seconds} s\n{tails}")
