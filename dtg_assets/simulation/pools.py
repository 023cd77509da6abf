"""Value pools built once with a seeded Faker, then sampled by numpy.

Faker is slow per call and was never seeded in the original; here it runs once per seed to
build small pools (upper-cased words for campaign ids, country names, US state abbreviations,
city names) that the vectorised engine samples with its own streams.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import pyarrow as pa

CITY_POOL_SIZE = 1000


@dataclass(frozen=True)
class ValuePools:
    """Pools the engine samples uniformly by index."""

    words: pa.StringArray
    countries: pa.StringArray
    states: pa.StringArray
    cities: pa.StringArray


class _CachedWeights:
    """Faker provider mixin: weighted single draws without re-summing the weights each time.

    Faker's weighted draw copies an ``OrderedDict``'s weights and ``random.choices`` sums them
    on every call: for the thousands of weighted first names, nine tenths of the pool's time.
    ``random.choices(population, cum_weights=list(accumulate(weights)))`` is exactly what
    ``random.choices(population, weights)`` computes, so caching the sums per dict gives the
    same draws from the same ``random`` (tested against a plain ``Faker``). Any other kind of
    draw is Faker's own.
    """

    def random_elements(
        self, elements=("a", "b", "c"), length=None, unique=False, use_weighting=None
    ):
        weighted = self.__use_weighting__ if use_weighting is None else use_weighting
        if length != 1 or unique or not weighted or not isinstance(elements, OrderedDict):
            return super().random_elements(elements, length, unique, use_weighting)
        cache = self.__dict__.setdefault("_cum_weights", {})
        cached = cache.get(id(elements))
        if cached is None or cached[0] is not elements:
            cached = (elements, tuple(elements), list(accumulate(elements.values())))
            cache[id(elements)] = cached
        return self.generator.random.choices(cached[1], cum_weights=cached[2], k=1)


def _faker(seed: int) -> tuple[Any, Any]:
    """A seeded en_US Faker generator with only the providers the pools use.

    ``Faker("en_US")`` loads all 26 providers, a tenth of a second, for the three the pools
    need. Added the way ``Faker`` adds them (same classes, weighting on), they make the same
    draws from the same seeded random, so the pools are identical (tested against ``Faker``).

    Returns:
        The generator and its address provider (which holds the country and state lists).
    """
    from faker import Generator
    from faker.providers.address.en_US import Provider as Address
    from faker.providers.lorem.en_US import Provider as Lorem
    from faker.providers.person.en_US import Provider as Person

    generator = Generator(locale="en_US", use_weighting=True)
    for cls, name in ((Person, "person"), (Lorem, "lorem"), (Address, "address")):
        provider = type(cls.__name__, (_CachedWeights, cls), {})(generator)
        provider.__use_weighting__ = True
        provider.__provider__ = f"faker.providers.{name}"
        provider.__lang__ = "en_US"
        generator.add_provider(provider)
    generator.seed_instance(seed)
    return generator, provider


@functools.lru_cache(maxsize=8)
def value_pools(seed: int) -> ValuePools:
    """Build (and cache per process) the Faker value pools for a seed.

    Args:
        seed: Scenario seed; Faker is seeded with it, so city names are reproducible.

    Returns:
        The pools.
    """
    fake, address = _faker(seed)
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
