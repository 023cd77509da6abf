"""Seeded random streams and bulk identifiers.

Every random draw of the simulator comes from a stream derived from
``(seed, table, window, day, batch, segment, chunk)`` through :class:`numpy.random.SeedSequence`,
so any batch can be generated alone, in any order or process, and give the same data. UUID4
strings are made in bulk from a stream's random bytes, without a Python loop.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# Fixed codes, not hash(), which Python salts per process.
TABLE_CODES = {"visitor_events": 1, "applications": 2, "accounts": 3, "transactions": 4}
WINDOW_CODES = {"historical": 1, "live": 2}

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_GROUPS = ((0, 8), (9, 13), (14, 18), (19, 23), (24, 36))


def stream(
    seed: int, table: str, window: str, day_ordinal: int, batch: int, segment: int, chunk: int
) -> np.random.Generator:
    """The random stream of one table in one chunk of one batch.

    Args:
        seed: Scenario seed.
        table: Landing table name (a key of ``TABLE_CODES``).
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


def uuid4_strings(raw: np.ndarray) -> pa.StringArray:
    """Format random bytes as RFC 4122 version-4 UUID strings.

    Args:
        raw: ``(n, 16)`` uint8 array of random bytes (modified copies are made, not in place).

    Returns:
        ``n`` lower-case UUID strings with dashes.
    """
    b = np.array(raw, dtype=np.uint8, copy=True).reshape(-1, 16)
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    n = b.shape[0]
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[b >> 4]
    hexed[:, 1::2] = _HEX[b & 0x0F]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    pos = 0
    for lo, hi in _UUID_GROUPS:
        out[:, lo:hi] = hexed[:, pos : pos + hi - lo]
        pos += hi - lo
    return fixed_width_strings(out)


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


def constant_strings(value: str, n: int) -> pa.StringArray:
    """A string array repeating one value.

    Args:
        value: The string.
        n: Length.

    Returns:
        ``n`` copies of ``value``.
    """
    encoded = np.frombuffer(value.encode(), dtype=np.uint8)
    return fixed_width_strings(np.broadcast_to(encoded, (n, encoded.size)))
