"""Tests of the seeded random streams, bulk UUID4 formatting and the Faker value pools."""

from __future__ import annotations

import re
import uuid

import numpy as np
import pyarrow as pa
import pytest
from faker import Faker

from dtg_assets.simulation.pools import value_pools
from dtg_assets.simulation.streams import (
    TABLE_CODES,
    constant_strings,
    fixed_width_strings,
    random_bytes,
    stream,
    string_array,
    uuid4_strings,
)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
KEY = (42, "applications", "live", 739_000, 3, 0, 0)


def draw(*key) -> np.ndarray:
    return stream(*key).random(8)


def test_same_key_same_stream_regardless_of_global_state():
    np.random.seed(1)
    first = draw(*KEY)
    np.random.seed(2)
    np.random.random(100)
    assert np.array_equal(first, draw(*KEY))


@pytest.mark.parametrize("position", range(7))
def test_every_key_component_changes_the_stream(position: int):
    changed = list(KEY)
    changed[position] = {
        0: 43,
        1: "accounts",
        2: "historical",
        3: 739_001,
        4: 4,
        5: 1,
        6: 1,
    }[position]
    assert not np.array_equal(draw(*KEY), draw(*changed))


def test_streams_of_all_tables_are_distinct():
    draws = {t: tuple(draw(1, t, "live", 1, 0, 0, 0)) for t in TABLE_CODES}
    assert len(set(draws.values())) == len(TABLE_CODES)


def test_uuid4_strings_match_the_standard_library():
    raw = np.frombuffer(stream(*KEY).bytes(16 * 1000), dtype=np.uint8).reshape(1000, 16)
    before = raw.copy()
    got = uuid4_strings(raw).to_pylist()
    assert np.array_equal(raw, before), "input bytes must not be modified"
    for value, row in zip(got, raw, strict=True):
        assert UUID4.match(value), value
        # Same bytes through uuid.UUID with the version and variant forced.
        assert value == str(uuid.UUID(bytes=bytes(row), version=4))
        assert uuid.UUID(value).version == 4
    assert len(set(got)) == 1000


def test_uuid4_extremes():
    zeros = uuid4_strings(np.zeros((1, 16), np.uint8)).to_pylist()
    ones = uuid4_strings(np.full((1, 16), 255, np.uint8)).to_pylist()
    assert zeros == ["00000000-0000-4000-8000-000000000000"]
    assert ones == ["ffffffff-ffff-4fff-bfff-ffffffffffff"]
    assert uuid4_strings(np.zeros((0, 16), np.uint8)).to_pylist() == []


def test_fixed_width_and_constant_strings():
    chars = np.frombuffer(b"abcdef", dtype=np.uint8).reshape(3, 2)
    assert fixed_width_strings(chars).to_pylist() == ["ab", "cd", "ef"]
    assert constant_strings("active", 3).to_pylist() == ["active"] * 3
    assert constant_strings("x", 0).to_pylist() == []


def test_value_pools_come_from_seeded_faker():
    pools = value_pools(42)
    fake = Faker("en_US")
    words = pools.words.to_pylist()
    assert words == sorted({w.upper() for w in fake.get_words_list()})
    assert all(re.fullmatch(r"[A-Z]+", w) for w in words)
    states = pools.states.to_pylist()
    assert len(states) >= 50 and all(re.fullmatch(r"[A-Z]{2}", s) for s in states)
    assert {"CA", "NY", "TX"} <= set(states)
    countries = pools.countries.to_pylist()
    assert {"France", "Japan", "Brazil"} <= set(countries)
    cities = pools.cities.to_pylist()
    assert len(cities) == len(set(cities)) > 100


@pytest.mark.parametrize("seed", [0, 7, 42, 2**63 - 1])
def test_value_pools_equal_those_of_a_full_seeded_faker(seed):
    # The pools load only the providers they use: the same draws as Faker("en_US") makes.
    fake = Faker("en_US")
    fake.seed_instance(seed)
    address = fake.factories[0].provider("faker.providers.address")
    pools = value_pools.__wrapped__(seed)
    assert pools.words.to_pylist() == sorted({w.upper() for w in fake.get_words_list()})
    assert pools.cities.to_pylist() == list(dict.fromkeys(fake.city() for _ in range(1000)))
    assert pools.countries.to_pylist() == list(address.countries)
    assert pools.states.to_pylist() == list(address.states_abbr)


def test_value_pools_are_reproducible_per_seed():
    # Bypass the per-process cache to prove Faker itself is seeded.
    fresh = value_pools.__wrapped__(42)
    assert fresh == value_pools(42)
    other = value_pools.__wrapped__(43)
    assert other.words == fresh.words
    assert other.cities != fresh.cities


@pytest.mark.parametrize("rows", [0, 1, 3, 1000])
def test_random_bytes_equal_generator_bytes_and_leave_the_same_state(rows):
    # The engine's ids depend on this equivalence: it replaced rng.bytes for speed.
    ours, theirs = stream(*KEY), stream(*KEY)
    got = random_bytes(ours, rows)
    want = np.frombuffer(theirs.bytes(16 * rows), dtype=np.uint8).reshape(rows, 16)
    assert got.shape == (rows, 16) and got.dtype == np.uint8
    assert np.array_equal(got, want)
    # Same state, including numpy's buffered half of a 64-bit draw (used by 32-bit draws).
    assert ours.bit_generator.state == theirs.bit_generator.state
    assert np.array_equal(ours.integers(0, 10, 5), theirs.integers(0, 10, 5))


def test_string_array_equals_pyarrow_s_own():
    values = ["landing", "", "rejected - under age", "ünïcode"]
    built = string_array(values)
    assert built.equals(pa.array(values, pa.string()))
    assert built.null_count == 0 and len(string_array([])) == 0
