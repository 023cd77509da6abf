"""Guarding a data root: is it usable, and which temporary files are still being written.

:func:`preflight_remote` proves, before anything is generated, that an object-store root can be
written and listed, turning botocore's many failure modes into one :class:`DataRootError` that
names the problem (never a credential). :class:`WriterLock` marks a local writer's temporary
files as in use with an exclusive ``flock`` the kernel drops when the writer dies, so a later
writer cleaning up a killed one's temporaries never deletes a live one's.
"""

from __future__ import annotations

import contextlib
import os
from urllib.parse import urlsplit, urlunsplit

import fsspec

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None


class DataRootError(OSError):
    """The data root cannot be used: a file, not creatable, not writable or unreachable.

    Args:
        uri: The data root as the user gave it.
        why: What is wrong, for a person (never a credential).
    """

    def __init__(self, uri: str, why: str) -> None:
        super().__init__(f"cannot use the data root {uri}: {why}")
        self.uri, self.why = uri, why


class WriterLock:
    """Marks one writer's temporary files as in use: an exclusive ``flock`` on a lock file.

    The lock file is ``<lock_dir>/<token>.lock``, the token being the one in the writer's
    temporary names. The kernel releases the lock when the process dies, even by SIGKILL, so a
    later writer can tell a killed writer's temporaries (delete) from a live one's (keep). On
    an object store it does nothing (see ``Storage.temp_in_use``).

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

    def release(self) -> None:
        """Delete the lock file and drop the lock (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.remove(self.path)
            os.close(self._fd)
            self._fd = None


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


def reason(exc: BaseException) -> str:
    """A short, credential-free description of an error."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


# botocore/aiohttp exception class names, matched by name so that no S3 library is imported.
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}
_UNREACHABLE = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ClientConnectorError",
    "ServerDisconnectedError",
}


def fail_fast(fs: fsspec.AbstractFileSystem) -> fsspec.AbstractFileSystem:
    """The same filesystem, configured to fail at once instead of retrying (S3 only)."""
    if "s3" not in fs.protocol and "s3a" not in fs.protocol:
        return fs
    options = dict(getattr(fs, "storage_options", {}))
    config = {
        **options.get("config_kwargs", {}),
        "retries": {"max_attempts": 1},
        "connect_timeout": 5,
        "read_timeout": 20,
    }
    options.update(config_kwargs=config, skip_instance_cache=True, use_listings_cache=False)
    clone = type(fs)(**options)
    clone.retries = 1  # s3fs's own retry loop, on top of botocore's
    return clone


def endpoint_of(fs: fsspec.AbstractFileSystem) -> str:
    """Where an object store is reached, without any user info (for messages)."""
    options = getattr(fs, "storage_options", {})
    client = options.get("client_kwargs", {}) or {}
    url = options.get("endpoint_url") or client.get("endpoint_url")
    url = url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        return "the default AWS endpoint"
    parts = urlsplit(url)
    host = f"{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
    return urlunsplit(parts._replace(netloc=host, query="", fragment=""))


def preflight_remote(fs: fsspec.AbstractFileSystem, root: str, probe: str, uri: str) -> None:
    """Write, list and delete a probe object under an object-store root.

    Args:
        fs: The object store, preferably configured by :func:`fail_fast`.
        root: The root path on it.
        probe: A hidden probe path under the root.
        uri: The root as the user gave it (for the message).

    Raises:
        DataRootError: Naming what is wrong: credentials, endpoint, bucket or permissions.
    """
    try:
        with fs.open(probe, "wb") as handle:
            handle.write(b"dtg")
        fs.ls(root, detail=False)  # listing is needed too (finding a day's files)
        fs.rm(probe)
    except Exception as exc:
        names = {cls.__name__ for cls in type(exc).__mro__}
        if names & _NO_CREDENTIALS:
            why = (
                "no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE)"
            )
        elif names & _UNREACHABLE or "ConnectionError" in names:
            why = f"cannot reach the object store at {endpoint_of(fs)} (AWS_ENDPOINT_URL)"
        elif isinstance(exc, FileNotFoundError) and "s3" in fs.protocol:
            bucket = root.split("/", 1)[0]
            why = f"bucket {bucket!r} does not exist at {endpoint_of(fs)}"
        elif isinstance(exc, PermissionError):
            why = f"access denied ({reason(exc)}): check the credentials' permissions"
        else:
            why = f"{type(exc).__name__}: {reason(exc)}"
        raise DataRootError(uri, why) from None
