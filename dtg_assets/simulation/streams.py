"""Seeded random streams and bulk identifiers.

Every random draw of the simulator comes from a stream derived from
``(seed, table, window, day, batch, segment, chunk)`` through :class:`numpy.random.SeedSequence`,
so any batch can be generated alone, in any order or process, and give the same data. UUID4
strings are made in bulk from a stream's random bytes, without a Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

# Fixed codes, not hash(), which Python salts per process.
# The anomalies drawing on streams of their own (never the tables'), so that adding them left
# every table's draws, and the twin's, unchanged.
TABLE_CODES = {
    "visitor_events": 1,
    "applications": 2,
    "accounts": 3,
    "transactions": 4,
    "distribution_shift": 11,
    "orphan_records": 12,
    "duplicate_records": 13,
}
WINDOW_CODES = {"historical": 1, "live": 2}


def _hex_table() -> np.ndarray:
    # Every 16-bit little-endian word -> its 4 hex characters, packed in a little-endian uint32:
    # one lookup formats two bytes.
    hexd = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    word = np.arange(1 << 16)
    low, high = word & 0xFF, word >> 8
    chars = np.stack([hexd[low >> 4], hexd[low & 15], hexd[high >> 4], hexd[high & 15]], axis=1)
    return np.ascontiguousarray(chars, dtype=np.uint8).view("<u4").reshape(-1)


_HEX4 = _hex_table()
# The 32 hex digits as 8 groups of 4 (fields a-e: 8, 4, 4, 4, 12 digits), and the 36-character
# UUID with a dash after each field but the last.
_HEX_FIELDS = np.dtype([("a", "V8"), ("b", "V4"), ("c", "V4"), ("d", "V4"), ("e", "V12")])
_UUID_LAYOUT = np.dtype(
    [
        ("a", "V8"),
        ("dash1", "u1"),
        ("b", "V4"),
        ("dash2", "u1"),
        ("c", "V4"),
        ("dash3", "u1"),
        ("d", "V4"),
        ("dash4", "u1"),
        ("e", "V12"),
    ]
)


def stream(
    seed: int, table: str, window: str, day_ordinal: int, batch: int, segment: int, chunk: int
) -> np.random.Generator:
    """The random stream of one table in one chunk of one batch.

    Args:
        seed: Scenario seed.
        table: Landing table name, or an anomaly with draws of its own (a key of
            ``TABLE_CODES``).
        window: ``historical`` or ``live``.
        day_ordinal: ``date.toordinal()`` of the batch's day.
        batch: Index of the batch in its day.
        segment: 0 for planned visitors, 1 for the extra visitors of a traffic spike.
        chunk: Index of the chunk within the segment.

    Returns:
        An independent PCG64-backed generator.
    """
    key = (TABLE_CODES[table], WINDOW_CODES[window], day_ordinal, batch, segment, chunk)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def random_bytes(rng: np.random.Generator, rows: int, width: int = 16) -> np.ndarray:
    """``rng.bytes(rows * width)`` as a ``(rows, width)`` uint8 array, without its copies.

    ``Generator.bytes`` draws ``ceil(n / 4)`` full-range uint32 words (one even for ``n == 0``:
    its C division rounds ``-1 // 4`` to 0) and returns their little-endian bytes; drawing the
    same words directly gives the same bytes and leaves the stream in the same state.

    Args:
        rng: The stream.
        rows: Number of rows.
        width: Bytes per row.

    Returns:
        The bytes, row by row.
    """
    count = rows * width
    words = rng.integers(0, 1 << 32, size=max(1, -(-count // 4)), dtype=np.uint32)
    return words.astype("<u4", copy=False).view(np.uint8)[:count].reshape(rows, width)


def uuid4_strings(raw: np.ndarray) -> pa.StringArray:
    """Format random bytes as RFC 4122 version-4 UUID strings.

    Args:
        raw: ``(n, 16)`` uint8 array of random bytes (modified copies are made, not in place).

    Returns:
        ``n`` lower-case UUID strings with dashes.
    """
    words = np.array(raw, dtype=np.uint8, copy=True).reshape(-1, 16).view("<u2")
    # Version 4 in the high nibble of byte 6, variant 10 in the top bits of byte 8 (the low
    # bytes of words 3 and 4).
    words[:, 3] = (words[:, 3] & 0xFF0F) | 0x0040
    words[:, 4] = (words[:, 4] & 0xFF3F) | 0x0080
    n = words.shape[0]
    digits = np.take(_HEX4, words).view(_HEX_FIELDS).reshape(n)
    out = np.empty(n, _UUID_LAYOUT)
    for name in ("a", "b", "c", "d", "e"):
        out[name] = digits[name]
    for name in ("dash1", "dash2", "dash3", "dash4"):
        out[name] = ord("-")
    return fixed_width_strings(out.view(np.uint8).reshape(n, 36))


def fixed_width_strings(chars: np.ndarray) -> pa.StringArray:
    """Wrap an ``(n, width)`` uint8 matrix of ASCII as a string array, zero-copy.

    Args:
        chars: Row-per-string ASCII bytes.

    Returns:
        A string array of ``n`` values of ``width`` characters.
    """
    n, width = chars.shape
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    data = np.ascontiguousarray(chars)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def string_array(values: Sequence[str]) -> pa.StringArray:
    """A string array of a few Python strings, built from its buffers.

    ``pa.array`` would do, but its first call in a process imports pandas (about 0.3 s) to
    look for pandas objects; module-level constants use this instead.

    Args:
        values: The strings.

    Returns:
        The array, without nulls.
    """
    data = [v.encode() for v in values]
    offsets = np.zeros(len(data) + 1, np.int32)
    np.cumsum([len(b) for b in data], out=offsets[1:])
    return pa.StringArray.from_buffers(
        len(data), pa.py_buffer(offsets), pa.py_buffer(b"".join(data))
    )


def constant_strings(value: str, n: int) -> pa.StringArray:
    """A string array repeating one value.

    Args:
        value: The string.
        n: Length.

    Returns:
        ``n`` copies of ``value``.
    """
    return pa.repeat(pa.scalar(value, pa.string()), n)
