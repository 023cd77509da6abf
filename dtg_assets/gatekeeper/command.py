"""Run an external detector given as a shell command template, for the detection curves.

A command detector is any program that reads a data root and writes a findings file in the
findings format (one row per flag: ``batch_id``, ``detector``, optional ``table`` and
``record_id``; Parquet, CSV or JSON lines by the file's extension). The template names the data
root and the findings file with ``{data_root}`` and ``{findings}``; both are shell-quoted when
substituted, and ``DTG_DATA_ROOT`` is set to the data root too; its standard output is
discarded. A command that fails, times out (its whole process group is killed) or writes no
findings file is an error of one line naming the command, its exit status and the last line it
printed on stderr.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from pathlib import Path

PLACEHOLDERS = ("{data_root}", "{findings}")


class CommandError(RuntimeError):
    """An external detector failed; the message is one line naming it and why."""


def check_template(label: str, template: str) -> str:
    """Check a command template names both the data root and the findings file.

    Args:
        label: The detector's name in reports.
        template: The shell command template.

    Returns:
        The template.

    Raises:
        ValueError: If a placeholder is missing or another brace field is used.
    """
    missing = [p for p in PLACEHOLDERS if p not in template]
    if missing:
        raise ValueError(
            f"command {label!r} lacks {' and '.join(missing)}; a command template must name "
            "the data root as {data_root} and the findings file it writes as {findings}"
        )
    try:
        template.format(data_root="", findings="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"command {label!r} has a brace field other than {{data_root}} and {{findings}} "
            f"({exc}); write a literal brace as {{{{ or }}}}"
        ) from None
    return template


def run_command(label: str, template: str, data_root: str, findings: Path, timeout: float) -> Path:
    """Run one command detector on a data root.

    Args:
        label: The detector's name (for errors).
        template: The command template (see :func:`check_template`).
        data_root: The data root it reads.
        findings: Where it must write its findings file.
        timeout: Seconds it may run.

    Returns:
        The findings file.

    Raises:
        CommandError: If it exits non-zero, times out or writes no findings file.
    """
    command = template.format(data_root=shlex.quote(data_root), findings=shlex.quote(str(findings)))
    env = {**os.environ, "DTG_DATA_ROOT": data_root}
    # Its own session: on a timeout the whole group goes (a shell's children included).
    with subprocess.Popen(
        command, shell=True, env=env, text=True, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    ) as process:  # fmt: skip
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise CommandError(f"command {label!r} timed out after {timeout:g} s") from None
    if process.returncode != 0:
        lines = stderr.strip().splitlines()
        last = lines[-1] if lines else "no output on stderr"
        raise CommandError(f"command {label!r} exited with status {process.returncode}: {last}")
    if not findings.is_file():
        raise CommandError(f"command {label!r} wrote no findings file at {findings}")
    return findings
