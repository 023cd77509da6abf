"""Guarding a data root: opening it, bounding its calls, naming its failures, locking writers.

:func:`open_filesystem` opens a root's fsspec filesystem with every object-store call bounded by
a timeout (:func:`store_timeout`, ``DTG_STORE_TIMEOUT`` seconds) and few retries, so an endpoint
that dies or hangs fails a command in seconds, not minutes; an unknown scheme or a missing
filesystem package is one line saying what is known and what to install. :func:`preflight_remote`
proves, before anything is generated, that an object-store root can be written and listed, and
:func:`store_error` turns a store failure met later (botocore's, aiohttp's, a full disk's) into a
:class:`StoreError`: one line naming the root and the cause, never a credential.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import fsspec


class DataRootError(OSError):
    """The data root cannot be used: a file, not creatable, not writable or unreachable.

    Args:
        uri: The data root as the user gave it.
        why: What is wrong, for a person (never a credential).
    """

    def __init__(self, uri: str, why: str) -> None:
        super().__init__(f"cannot use the data root {uri}: {why}")
        self.uri, self.why = uri, why

    def __reduce__(self):
        # Pickled from a worker process to its parent: rebuild from (uri, why), not from args.
        return type(self), (self.uri, self.why)


class StoreError(DataRootError):
    """Writing to the data root failed part-way (store unreachable or hanging, disk full).

    Nothing committed before was lost: a day's commit marker is written last.
    """


def reason(exc: BaseException) -> str:
    """A short, credential-free description of an error."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


STORE_TIMEOUT_ENV = "DTG_STORE_TIMEOUT"
# Seconds an object-store call may wait for a connection or an answer, per attempt.
DEFAULT_STORE_TIMEOUT = 5.0
MAX_STORE_TIMEOUT = 3600.0
# Attempts per S3 call: botocore's (transient errors, throttling), times s3fs's own loop.
BOTOCORE_ATTEMPTS = 2
S3FS_ATTEMPTS = 2
S3_INSTALL = "pip install 'dtg_assets[s3]'"
# How to get the filesystems of the usual object stores (fsspec knows many more schemes).
INSTALL_HINTS = {
    "s3": S3_INSTALL,
    "s3a": S3_INSTALL,
    "gs": "pip install gcsfs",
    "gcs": "pip install gcsfs",
    "abfs": "pip install adlfs",
    "abfss": "pip install adlfs",
    "az": "pip install adlfs",
}


def _is_s3(protocol: str | tuple[str, ...]) -> bool:
    protocols = {protocol} if isinstance(protocol, str) else set(protocol)
    return bool(protocols & {"s3", "s3a"})


def store_timeout(value: float | str | None = None) -> float:
    """The object-store timeout: ``value``, else ``DTG_STORE_TIMEOUT``, else 5 seconds.

    Args:
        value: Seconds, or None to read the environment.

    Returns:
        Seconds, finite and positive.

    Raises:
        ValueError: If the value is not a number of seconds in (0, 3600].
    """
    source = "timeout"
    if value is None:
        value = os.environ.get(STORE_TIMEOUT_ENV, "").strip() or DEFAULT_STORE_TIMEOUT
        source = STORE_TIMEOUT_ENV
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not 0 < seconds <= MAX_STORE_TIMEOUT:  # also rejects NaN
        raise ValueError(
            f"{source}={value!r}: expected a number of seconds in (0, {MAX_STORE_TIMEOUT:g}]"
        )
    return seconds


def _unknown_scheme(protocol: str) -> str:
    known = ", ".join(
        f"{scheme}:// ({hint})" for scheme, hint in INSTALL_HINTS.items() if scheme != "s3a"
    )
    return (
        f"unknown filesystem scheme {protocol!r}; use a local path, memory://, {known}, "
        "or another fsspec protocol (fsspec.available_protocols())"
    )


def local_root(uri: str) -> str | None:
    """The absolute path of a data root given as a plain local path, else None.

    A plain path (no ``scheme://``, no chained ``a::b`` URL) is the common case, and it needs
    no fsspec: opening fsspec costs more than a tenth of a second of imports (asyncio among
    them) on the critical path of every short command. Any URI, ``file://`` included, goes
    through :func:`open_filesystem`.

    Args:
        uri: The data root as the user gave it.

    Returns:
        The absolute, normalised path (``~`` expanded), or None for a URI.
    """
    if "://" in uri or "::" in uri or not uri.strip():
        return None
    return os.path.abspath(os.path.expanduser(uri))


def check_timeout(uri: str, timeout: float | None) -> float:
    """:func:`store_timeout`, its error naming the data root (:class:`DataRootError`)."""
    try:
        return store_timeout(timeout)
    except ValueError as exc:
        raise DataRootError(uri, str(exc)) from None


def open_filesystem(
    uri: str, options: dict | None = None, timeout: float | None = None
) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem of a data root, with its calls bounded in time.

    On S3 every call waits at most ``timeout`` seconds to connect and to be answered, and is
    tried at most ``BOTOCORE_ATTEMPTS * S3FS_ATTEMPTS`` times, so an endpoint that dies or hangs
    fails within seconds to tens of seconds (with s3fs's and botocore's defaults, a 15 s read
    timeout and up to 5 x 5 attempts, it took minutes), and uploads send no ``Expect:
    100-continue`` (:func:`_s3_session`). Listings are never cached: other processes write the
    same prefixes. Options the caller gives win over these. Other filesystems keep their own
    settings.

    Args:
        uri: Local path or fsspec URI.
        options: Extra filesystem options (credentials come from the environment by default).
        timeout: Seconds; :func:`store_timeout` when None.

    Returns:
        ``(filesystem, path of the root on it)``.

    Raises:
        DataRootError: For an unknown scheme, a filesystem package that is not installed or a
            bad timeout.
    """
    import fsspec

    options = dict(options or {})
    protocol = fsspec.core.split_protocol(uri)[0]
    seconds = check_timeout(uri, timeout)
    if protocol in ("s3", "s3a"):
        options.setdefault("use_listings_cache", False)
        with contextlib.suppress(ImportError):  # reported below, by fsspec, with the hint
            options.setdefault("session", _s3_session())
        options["config_kwargs"] = {
            "connect_timeout": seconds,
            "read_timeout": seconds,
            "retries": {"max_attempts": BOTOCORE_ATTEMPTS, "mode": "standard"},
            **options.get("config_kwargs", {}),
        }
    if protocol and protocol not in fsspec.available_protocols():
        raise DataRootError(uri, _unknown_scheme(protocol))
    try:
        fs, path = fsspec.core.url_to_fs(uri, **options)
    except ImportError as exc:
        hint = INSTALL_HINTS.get(protocol or "", "install the filesystem package fsspec names")
        raise DataRootError(uri, f"{reason(exc)} ({hint})") from None
    except ValueError as exc:
        if "Protocol not known" not in str(exc):
            raise
        raise DataRootError(uri, _unknown_scheme(protocol or "")) from None
    if _is_s3(fs.protocol):
        fs.retries = S3FS_ATTEMPTS  # s3fs's own loop over botocore's attempts
    return fs, path


@functools.cache
def _s3_session():
    """One aiobotocore session for every S3 root of the process, without ``Expect:
    100-continue`` on uploads: aiohttp waits for the server's "100 Continue" with no timeout,
    so a stalled endpoint would hang an upload forever whatever the read timeout."""
    from aiobotocore.session import AioSession
    from botocore.handlers import add_expect_header

    session = AioSession()
    session.unregister("before-call.s3", add_expect_header)
    return session


# botocore/aiohttp exception class names, matched by name so that no S3 library is imported.
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}
_UNREACHABLE = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ClientConnectorError",
    "ServerDisconnectedError",
}
_TIMEOUTS = {"ConnectTimeoutError", "ReadTimeoutError", "TimeoutError", "FSTimeoutError"}
# Libraries whose exceptions are the store's failures, not bugs of ours.
_STORE_MODULES = ("botocore", "aiobotocore", "aiohttp", "s3fs", "gcsfs", "adlfs", "fsspec")


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def store_error(
    uri: str, exc: BaseException, doing: str, fs: fsspec.AbstractFileSystem | None = None
) -> StoreError | None:
    """The one-line error of a store failure, or None if ``exc`` is not one (a bug).

    A store failure is an ``OSError`` (full disk, permissions, s3fs's translated errors) or an
    exception of the store's libraries (botocore, aiohttp, ...); an error that already is a
    :class:`DataRootError` is returned as it is.

    Args:
        uri: The data root as the user gave it.
        exc: What was raised.
        doing: What was being done, e.g. ``writing live day 2026-11-20``.
        fs: The root's filesystem, to name an object store's endpoint.

    Returns:
        The error to raise instead, or None to let ``exc`` propagate with its traceback.
    """
    if isinstance(exc, DataRootError):
        return exc if isinstance(exc, StoreError) else StoreError(exc.uri, exc.why)
    module = type(exc).__module__.split(".", 1)[0]
    if not isinstance(exc, OSError) and module not in _STORE_MODULES:
        return None
    names = _names(exc)
    where = f"the object store at {endpoint_of(fs)}" if fs is not None else "the store"
    if fs is not None and _is_s3(fs.protocol) and names & _TIMEOUTS:
        cause = f"{where} did not answer in time ({STORE_TIMEOUT_ENV}; {type(exc).__name__})"
    elif (
        fs is not None
        and _is_s3(fs.protocol)
        and (names & _UNREACHABLE or "ConnectionError" in names)
    ):
        cause = f"lost the connection to {where} ({type(exc).__name__}: {reason(exc)})"
    else:
        cause = f"{type(exc).__name__}: {reason(exc)}"
    return StoreError(uri, f"{doing} failed: {cause}")


def fail_fast(
    fs: fsspec.AbstractFileSystem, timeout: float = DEFAULT_STORE_TIMEOUT
) -> fsspec.AbstractFileSystem:
    """The same filesystem, configured to fail at once instead of retrying (S3 only).

    Args:
        fs: The filesystem.
        timeout: Seconds to wait for a connection or an answer.

    Returns:
        A separate S3 filesystem with no retries, or ``fs`` itself for other filesystems.
    """
    if not _is_s3(fs.protocol):
        return fs
    options = dict(getattr(fs, "storage_options", {}))
    config = {
        **options.get("config_kwargs", {}),
        "retries": {"max_attempts": 1},
        "connect_timeout": timeout,
        "read_timeout": timeout,
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
