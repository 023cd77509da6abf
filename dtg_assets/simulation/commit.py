"""The commit protocol every writer of a data root follows: stage, commit the marker last, abort.

A :class:`Commit` hands out hidden temporary names (built by the layout module) for the files a
write will produce, registering each name before the file exists, so a failure at any point
(opening, writing, closing a file, renaming it) deletes every temporary of this writer and nothing
else. :meth:`Commit.commit` renames the staged files into place, the last ones staged (a day's
commit record, then its manifest: the commit markers) one by one after all the others, then deletes
what the caller found stale. Used as a context manager it aborts on any exception, and a store
failure (full disk, unreachable or hanging object store) leaves it as one
:class:`~dtg_assets.simulation.roots.StoreError` line; a failure of the clean-up itself never masks
the original one.

Every writer holds a :class:`WriterLock` while its temporaries exist, so a writer cleaning up
temporaries left by a killed one (:func:`temp_in_use`) never deletes those of a live one, and
the batch writers of one day take its :class:`DayLock` in turn, since each rewrites the day's
manifest from the one before.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
from collections.abc import Callable, Iterable

from dtg_assets.simulation.layout import LOCK_DIR, lock_file, parse_temporary, temporary_name
from dtg_assets.simulation.roots import store_error
from dtg_assets.simulation.storage import Storage

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

# On an object store (no locks) a temporary this old is taken as left by a killed writer.
STALE_TEMP_AGE = dt.timedelta(hours=6)


class _LockFile:
    """A held lock file: its path and descriptor, released (and deleted) once."""

    path: str
    _fd: int | None = None

    def release(self) -> None:
        """Delete the lock file and drop the lock (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.remove(self.path)
            os.close(self._fd)
            self._fd = None


class WriterLock(_LockFile):
    """Marks one writer's temporary files as in use: an exclusive ``flock`` on a lock file.

    The lock file is ``<lock_dir>/<token>.lock``, the token being the one in the writer's
    temporary names. The kernel releases the lock when the process dies, even by SIGKILL, so a
    later writer can tell a killed writer's temporaries (delete) from a live one's (keep). On
    an object store it does nothing (see :func:`temp_in_use`).

    Args:
        local: Whether the data root is on local disk (locks are local only).
        lock_dir: Directory of the lock files (hidden, under the data root).
        token: The writer's token.
    """

    def __init__(self, local: bool, lock_dir: str, token: str) -> None:
        self.path = f"{lock_dir}/{token}.lock"
        self._fd: int | None = None
        if local and fcntl is not None:
            os.makedirs(lock_dir, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise
            self._fd = fd


class DayLock(_LockFile):
    """Serialises the batch writers of one day: an exclusive, blocking ``flock``.

    Committing a batch rewrites the day's manifest, commit record and labels file from what is
    committed, so two batch writers of one day must not interleave. The lock file is
    ``<lock_dir>/<day stem>.day.lock``, deleted on release; a writer that locked a file deleted
    meanwhile by the previous holder locks the new one instead. The kernel drops the lock of a
    killed writer. On an object store it does nothing: one batch writer per day at a time there.

    Args:
        local: Whether the data root is on local disk.
        lock_dir: Directory of the lock files.
        name: The day's stem (``live-20261120``).
    """

    def __init__(self, local: bool, lock_dir: str, name: str) -> None:
        self.path = f"{lock_dir}/{name}.day.lock"
        self._fd: int | None = None
        if not local or fcntl is None:
            return
        os.makedirs(lock_dir, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                self._fd = fd
                return
            os.close(fd)  # the previous holder deleted it: lock the one there now

    def __enter__(self) -> DayLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_held(path: str) -> bool:
    """Whether a live writer holds the lock file at ``path`` (unsure counts as held)."""
    if fcntl is None:
        return True
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False  # never locked, or released by a writer that finished
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True  # no flock on this filesystem: keep, never delete a live writer's file
    else:
        # Its writer is dead: the lock file goes with its temporaries.
        with contextlib.suppress(OSError):
            os.remove(path)
        return False
    finally:
        os.close(fd)


def temp_in_use(
    storage: Storage, path: str, root: str, max_age: dt.timedelta = STALE_TEMP_AGE
) -> bool:
    """Whether a temporary file may still belong to a live writer (so must be kept).

    Locally a temporary is live while its writer holds the lock of the token in its name
    (:class:`WriterLock`; the kernel drops it when the writer dies). An object store has no
    such lock: a temporary is taken as abandoned once older than ``max_age``.

    Args:
        storage: The data root's storage.
        path: The temporary file.
        root: Filesystem path of the data root (where the lock directory is).
        max_age: Age after which a remote temporary is abandoned.

    Returns:
        True unless the temporary is certainly abandoned.
    """
    parsed = parse_temporary(path)
    if parsed is None:
        return True
    if storage.local:
        return lock_held(f"{root}/{lock_file(parsed[1])}")
    try:
        modified = storage.fs.modified(path)
    except (OSError, NotImplementedError, ValueError, KeyError):
        return True
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC) - modified < max_age


class Commit:
    """One writer's files, staged under temporary names and committed together.

    Args:
        storage: The data root's storage.
        root: Filesystem path of the data root.
        uri: The data root as the user gave it (for messages).
        doing: What the write is, for messages (``writing live day 2026-11-20``).

    Raises:
        StoreError: If the writer's lock cannot be taken (e.g. a full disk).
    """

    def __init__(self, storage: Storage, root: str, uri: str, doing: str) -> None:
        self.storage, self.uri, self.doing = storage, uri, doing
        self.token = secrets.token_hex(4)
        self.staged: list[tuple[str, str]] = []  # (temporary, final), in staging order
        self.committed = False
        self._made_dirs: set[str] = set()
        self._before_abort: list[Callable[[], None]] = []
        try:
            # Taken before the first temporary exists, released after the last is renamed.
            self.lock = WriterLock(storage.local, f"{root}/{LOCK_DIR}", self.token)
        except Exception as exc:
            error = store_error(uri, exc, doing, storage.fs)
            if error is None:
                raise
            raise error from None

    def stage(self, final: str, make_dir: bool = True) -> str:
        """Register a file of this write and return the temporary path to write it to.

        Args:
            final: Where the file goes on commit.
            make_dir: Make its directory now (else the caller's writer makes it).

        Returns:
            The temporary path (hidden, unique to this writer).
        """
        directory = final.rpartition("/")[0]
        if make_dir and directory not in self._made_dirs:
            self.storage.makedirs(directory)
            self._made_dirs.add(directory)
        tmp = temporary_name(final, self.token)
        self.staged.append((tmp, final))
        return tmp

    @property
    def own_paths(self) -> set[str]:
        """Every path this write stages or commits: never stale."""
        return {p for pair in self.staged for p in pair}

    def before_abort(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (close open files, stop writer threads) before an abort deletes."""
        self._before_abort.append(callback)

    def commit(self, stale: Iterable[str] = (), markers: int = 1) -> list[str]:
        """Rename every staged file into place, the last ``markers`` staged last; then delete
        ``stale``.

        Args:
            stale: Files the new ones replace (listed by the caller before the commit).
            markers: How many of the files staged last are markers, renamed one by one in
                staging order after all the others.

        Returns:
            The stale files deleted.
        """
        split = len(self.staged) - markers
        self.storage.rename_many(self.staged[:split])
        for marker in self.staged[split:]:
            # Renamed on their own, after all the others: a visible marker means a complete write.
            self.storage.rename_many([marker])
        self.committed = True
        stale = sorted(stale)
        for path in stale:
            # Another writer of the same files may be cleaning up the same leftovers.
            self.storage.remove(path, missing_ok=True)
        self.lock.release()
        return stale

    def abort(self) -> None:
        """Delete every temporary of this write; committed files stay as they were.

        Never raises: it runs while another error propagates, which it must not mask.
        """
        for callback in self._before_abort:
            with contextlib.suppress(Exception):
                callback()
        if not self.committed:
            with contextlib.suppress(Exception):
                self.storage.remove_many([tmp for tmp, _ in self.staged])
        with contextlib.suppress(Exception):
            self.lock.release()

    def __enter__(self) -> Commit:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc is None and self.committed:
            return
        self.abort()
        if exc is None:
            return
        error = store_error(self.uri, exc, self.doing, self.storage.fs)
        if error is not None and error is not exc:
            raise error from None
