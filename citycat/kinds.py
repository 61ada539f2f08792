"""What each installed source kind accepts, read from the harvesters' own option models.

`citycat sources kinds` prints it, and docs/sources.md carries one table per kind that a test
checks against these models, so the documentation cannot drift from what the checker enforces.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import PydanticUndefined


def kinds() -> dict[str, Any]:
    """Registered harvester classes by kind (built-ins imported first)."""
    import harvesters

    harvesters.load_builtin()
    return dict(sorted(harvesters.registry().items()))


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None:
        return "none"
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return f"`{json.dumps(value, default=str)}`"


def option_rows(kind: str) -> list[tuple[str, str, str]]:
    """(key, default, description) for every option of ``kind``, in declaration order."""
    cls = kinds()[kind]
    rows = []
    for name, field in cls.Options.model_fields.items():
        description = " ".join((field.description or "").split())
        rows.append((name, _default(field), description))
    return rows


def markdown(kind: str) -> str:
    cls = kinds()[kind]
    lines = [f"## Options of the `{kind}` kind", "",
             f"Defined by `{cls.__module__.replace('.', '/')}.py` (`{cls.__name__}.Options`); "
             f"paging: {cls.paging or 'n/a'}; incremental cursor: {cls.cursor or 'none (always a full listing)'}.",
             "", "| key | default | meaning |", "|---|---|---|"]
    for name, default, description in option_rows(kind):
        lines.append(f"| `{name}` | {default} | {description.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def summary() -> str:
    """One block per kind, for the terminal."""
    out = []
    for kind, cls in kinds().items():
        schemes = ", ".join(getattr(cls, "url_schemes", ("http", "https")))
        out.append(f"{kind}  ({cls.__module__}; url: {schemes}; paging: {cls.paging or 'n/a'}; "
                   f"cursor: {cls.cursor or 'none'})")
        for name, default, description in option_rows(kind):
            out.append(f"    {name:24s} {default:14s} {description[:90]}")
    return "\n".join(out)
