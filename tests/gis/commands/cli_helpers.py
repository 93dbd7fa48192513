"""Running ``wangge`` as a user does, and checking what it left behind."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

WANGGE = Path(sys.executable).with_name("wangge")


UNPRIVILEGED = (
    ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    if os.geteuid() == 0
    else []
)
"""A prefix that runs a command without root's right to ignore permission bits (nothing to do
for an ordinary user)."""


def wangge(
    *args: object, timeout: float = 300, prefix: tuple[str, ...] = (), **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``wangge *args`` in a child process (text output, never raising on its exit code);
    ``prefix`` goes before the executable (e.g. :data:`UNPRIVILEGED`)."""
    env = {**os.environ, "COLUMNS": "200", **kwargs.pop("env", {})}
    env.pop("WANGGE_DATABASE_URL", None)
    return subprocess.run(
        [*prefix, str(WANGGE), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
        **kwargs,
    )


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` (hidden ones too) → a digest of its bytes."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        out[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def one_error_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """The run failed with exit code 2 and said so in exactly one line holding ``words``, with
    no traceback; returns the line."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]
