"""The installed ``semcgcnn`` command run as a user runs it, for the tests: through the ``cli``
fixture (``conftest.py``), or with these functions where a test needs the process or another
command of the environment (``rlaunch``, ``python -c``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
"""The environment's scripts folder: ``semcgcnn``, ``rlaunch``, ``lpad``."""
SEMCGCNN = str(BIN / "semcgcnn")


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a command: this one with 200 columns (rich wraps its output there) and no
    Materials Project key (every run offline, the same on every machine), then ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "MP_API_KEY"}
    return {**env, "COLUMNS": "200", **(extra or {})}


def run_command(
    cmd: list[str], env: dict[str, str] | None = None, timeout: float = 600, **kw
) -> subprocess.CompletedProcess:
    """Run ``cmd`` to completion with :func:`cli_env` (``env``: variables added), text output captured.

    ``timeout``: seconds before the run is killed and the test fails; ``kw``: more
    :func:`subprocess.run` arguments (``cwd``)."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=cli_env(env), **kw)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600, **kw
) -> subprocess.CompletedProcess:
    """``semcgcnn *args`` run to completion; ``env``, ``timeout`` and ``kw`` as in :func:`run_command`."""
    return run_command([SEMCGCNN, *args], env=env, timeout=timeout, **kw)


def start_cli(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    """``semcgcnn *args`` started and left running (to be signalled or waited for), with
    :func:`cli_env`; ``kw``: more :class:`subprocess.Popen` arguments (``stdout``, ``stderr``)."""
    return subprocess.Popen([SEMCGCNN, *args], env=cli_env(env), text=True, **kw)
