"""Process-level set-up of the ``generate`` command: signals, worker count and lean imports.

The command turns ``SIGINT`` and ``SIGTERM`` into exceptions that unwind the run the way any
failure does (:class:`StopSignals`), picks how many day-writing processes to fork
(:func:`default_workers`) and keeps pandas, which pyarrow would import on first use, out of the
process (:func:`keep_pandas_out`): it is the largest import and the engine never uses it.
"""

from __future__ import annotations

import importlib.abc
import os
import signal
import sys


class Terminated(BaseException):
    """``SIGTERM`` received: unwind like Ctrl-C (abandon the day, stop the workers)."""


class StopSignals:
    """Turns ``SIGINT``/``SIGTERM`` into an exception, and remembers them.

    A signal handler's exception is lost when it fires inside code that swallows exceptions
    (pyarrow's ``to_pylist`` does), so the run also calls :meth:`check` after each batch.
    """

    def __init__(self) -> None:
        self.signum: int | None = None

    def handle(self, signum: int, frame: object) -> None:
        """The signal handler: record the first signal and raise; later ones are ignored, so
        they cannot interrupt the clean-up the first one started."""
        if self.signum is None:
            self.signum = signum
            self.check()

    def check(self) -> None:
        """Raise ``Terminated`` or ``KeyboardInterrupt`` if a signal was received.

        Raises:
            Terminated: After ``SIGTERM``.
            KeyboardInterrupt: After ``SIGINT``.
        """
        if self.signum == signal.SIGTERM:
            raise Terminated(self.signum)
        if self.signum is not None:
            raise KeyboardInterrupt


def default_workers() -> int:
    """Day-writing processes by default: one per CPU, at most 2.

    Forked after the imports and the Faker pools, two workers write the default scenario's
    days in about half the time on two cores; beyond two the per-process start-up and the
    disk cost more than they bring for a scenario of this size.

    Returns:
        ``min(2, CPUs available to this process)``.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        cpus = os.cpu_count() or 1
    return max(1, min(2, cpus))


class _NoPandas(importlib.abc.MetaPathFinder):
    """An import hook under which ``import pandas`` fails."""

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"pandas is kept out of this process ({name})", name=name)


def keep_pandas_out() -> None:
    """Stop pyarrow from importing pandas in this process, unless it is already imported.

    pyarrow imports pandas (about 0.3 s, the largest import of the command) the first time it
    converts anything, only to recognise pandas objects, which the engine never passes. It
    remembers a failed import for the process, so failing it once here keeps pandas out while
    leaving ``import pandas`` working for any other code; pyarrow's pandas conversions (unused
    by the command) are unavailable in this process afterwards. Best effort: should pyarrow
    look differently, pandas is simply imported as before.
    """
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    hook = _NoPandas()
    sys.meta_path.insert(0, hook)
    try:
        pa.scalar(0)  # pyarrow's one look for pandas
    except Exception:  # an optimisation only, never a reason to fail
        pass
    finally:
        sys.meta_path.remove(hook)
