"""py-spy as a bench diagnostic: sample a server process during a phase, then print where its
time went (own and inclusive shares of the samples, by function). Sampling from outside the
process does not slow the code the way cProfile's per-call hooks do, so shares are comparable
between pure-Python and C-heavy code. py-spy must be installed (`pip install py-spy`); it needs
permission to read the process (root, or ptrace allowed)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

__all__ = ["Spy", "summarize"]


def _py_spy() -> str:
    here = Path(sys.executable).with_name("py-spy")
    found = str(here) if here.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("--spy needs py-spy: pip install py-spy")
    return found


class Spy:
    """`py-spy record` on `pid` (all threads, raw stacks) from `start()` until `stop()`."""

    def __init__(self, pid: int, out: Path, *, rate: int = 250) -> None:
        self.out = out
        self._cmd = [_py_spy(), "record", "-p", str(pid), "-r", str(rate), "--format", "raw",
                     "--nonblocking", "-o", str(out)]
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(self._cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def _short(frame: str) -> str:
    # py-spy frames: "function (path/to/file.py:line)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").split("site-packages/")[-1].split("/src/")[-1]
    return f"{where.rsplit(':', 1)[0]}:{name}"


def summarize(path: Path, limit: int = 25, *, only: str = "ledgerlink/") -> str:
    """The top functions by own and by inclusive samples; inclusive lists only `only`'s frames."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")[1:]]  # [0] is the process or thread
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for name in set(frames):
            if name.startswith(only):
                inclusive[name] += n
    if not total:
        return f"   (no samples in {path})"
    lines = [f"py-spy: {total} samples; file {path}", f"-- top {limit} by own samples"]
    lines += [f"   {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(limit)]
    lines.append(f"-- top {limit} {only} functions by inclusive samples")
    lines += [f"   {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(limit)]
    return "\n".join(lines)
