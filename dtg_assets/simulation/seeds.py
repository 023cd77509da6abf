"""Seeds as people write them: ASCII digits within the engine's 63-bit range, one message.

Every entry point that takes a seed as text (``DTG_SEED``, ``dtg-run --seed``, ``generate
--seed``) or as a number from run config parses it here, so a bad one is refused with the same
one-line message wherever it is met.
"""

from __future__ import annotations

SEED_ENV = "DTG_SEED"
# The engine's range (ScenarioConfig.seed): a numpy seed of 63 bits.
MAX_SEED = 2**63 - 1


class SettingError(ValueError):
    """A setting with an invalid value; the message is one line naming it and what is allowed."""


def parse_seed(raw: str, source: str = SEED_ENV) -> int:
    """Parse a seed written in ASCII digits, within the engine's range.

    ``str.isdigit`` and ``int`` accept other scripts' digits (``²``, ``٣``), so only the ASCII
    digits 0-9 are allowed: the value must read the same to a person and to the program.

    Args:
        raw: The text, e.g. the value of ``DTG_SEED`` (surrounding blanks are ignored).
        source: How the setting is named in the message (``DTG_SEED``, ``--seed``).

    Returns:
        The seed.

    Raises:
        SettingError: If it is not a whole number from 0 to 2**63-1.
    """
    text = raw.strip()
    if text and text.isascii() and text.isdigit() and int(text) <= MAX_SEED:
        return int(text)
    raise SettingError(_seed_message(source, raw))


def check_seed(value: int, source: str = "seed") -> int:
    """Check a seed given as a number (e.g. in run config) against the engine's range.

    Args:
        value: The seed.
        source: How the setting is named in the message.

    Returns:
        The seed.

    Raises:
        SettingError: If it is outside 0..2**63-1.
    """
    if 0 <= value <= MAX_SEED:
        return value
    raise SettingError(_seed_message(source, value))


def _seed_message(source: str, value: object) -> str:
    return (
        f"{source}={value!r} is not a valid seed: expected a whole number from 0 to {MAX_SEED} "
        "in the digits 0-9"
    )
