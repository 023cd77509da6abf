"""Readable messages from the engine's validation errors, shared by every entry point.

pydantic's own rendering of a :class:`~pydantic.ValidationError` is several lines per problem
and ends with a documentation link. Every front end of the engine (the ``generate`` command, the
Dagster resources, ``dtg-run``) reports bad input as one line naming the setting, the value and
what is allowed, and they all build that line here so the same mistake reads the same way
wherever it is made.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

# ScenarioConfig field -> the command-line option that sets it, the default names in messages.
OPTION_OF_FIELD: Mapping[str, str] = {
    "start_date": "--start-date",
    "seed": "--seed",
    "scale": "--scale",
}


def format_validation_error(
    error: ValidationError, prefix: str = "", names: Mapping[str, str] = OPTION_OF_FIELD
) -> str:
    """One line naming each invalid setting, its value and what is allowed.

    Args:
        error: pydantic's error from building an engine model.
        prefix: Path prepended to every setting (e.g. ``funnel`` for a nested model).
        names: How to name a top-level field in the message (e.g. ``seed`` -> ``--seed``);
            fields not in it are named by their dotted path.

    Returns:
        ``--seed=-1: Input should be greater than or equal to 0``, or for a nested field
        ``funnel.apply_rate=1.2: Input should be less than or equal to 1``; several problems
        are joined by ``; ``. The value is shown when it is a scalar.
    """
    parts = []
    for item in error.errors(include_url=False):
        loc = [str(p) for p in item["loc"]]
        if loc and not prefix:
            loc[0] = names.get(loc[0], loc[0])
        path = ".".join(p for p in (prefix, *loc) if p)
        message = item["msg"].removeprefix("Value error, ")
        if not loc:
            # Model-wide checks name their field as "<field>=<value>: ...": name it as the
            # caller does (e.g. --start-date).
            named, sep, rest = message.partition("=")
            if sep and named in names:
                message = f"{names[named]}={rest}"
        value = item.get("input")
        shown = value if isinstance(value, str | int | float) and loc else None
        if shown is not None:
            parts.append(f"{path}={shown}: {message}")
        else:
            parts.append(f"{path}: {message}" if path else message)
    return "; ".join(parts)
