"""Value pools built once with a seeded Faker, then sampled by numpy.

Faker is slow per call and was never seeded in the original; here it runs once per seed to
build small pools (upper-cased words for campaign ids, country names, US state abbreviations,
city names) that the vectorised engine samples with its own streams.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pyarrow as pa
from faker import Faker

CITY_POOL_SIZE = 1000


@dataclass(frozen=True)
class ValuePools:
    """Pools the engine samples uniformly by index."""

    words: pa.StringArray
    countries: pa.StringArray
    states: pa.StringArray
    cities: pa.StringArray


def _address_provider(fake: Faker) -> object:
    for provider in fake.factories[0].providers:
        if hasattr(provider, "countries") and hasattr(provider, "states_abbr"):
            return provider
    raise RuntimeError("Faker's en_US address provider has no countries/states_abbr lists")


@functools.lru_cache(maxsize=8)
def value_pools(seed: int) -> ValuePools:
    """Build (and cache per process) the Faker value pools for a seed.

    Args:
        seed: Scenario seed; Faker is seeded with it, so city names are reproducible.

    Returns:
        The pools.
    """
    fake = Faker("en_US")
    fake.seed_instance(seed)
    address = _address_provider(fake)
    words = sorted({w.upper() for w in fake.get_words_list()})
    # City names come from Faker's patterns; a fixed-size, order-preserving pool stays
    # reproducible for a seed while keeping the variety of the original.
    cities = list(dict.fromkeys(fake.city() for _ in range(CITY_POOL_SIZE)))
    return ValuePools(
        words=pa.array(words, pa.string()),
        countries=pa.array(list(address.countries), pa.string()),
        states=pa.array(list(address.states_abbr), pa.string()),
        cities=pa.array(cities, pa.string()),
    )
