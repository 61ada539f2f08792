"""The official DCAT-US 1.1 (Project Open Data) JSON Schema, run offline, as field-level warnings.

Real ``data.json`` files rarely pass their own schema (placeholder program codes pass, but
``"hasEmail": "mailto:"``, missing ``bureauCode`` on non-federal publishers, ``R/P1W`` in ``modified``
do not), and refusing them would empty most catalogues. So the schema is a diagnostic: each error
becomes one short warning naming the field, and the mapping goes on.

The schemas ``$ref`` their siblings by relative name under ``https://project-open-data.cio.gov/v1.1/schema/``.
That base is served from the shipped copies in ``vocabularies/dcat-us/schema`` through a ``referencing``
Registry whose ``retrieve`` refuses anything else: validation never touches the network.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Iterable

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT4

from transforms.vocab_base import DATA

SCHEMA_BASE = "https://project-open-data.cio.gov/v1.1/schema/"
SCHEMA_DIR = DATA / "dcat-us" / "schema"
SCHEMA_FILES = ("catalog.json", "dataset.json", "distribution.json", "organization.json", "vcard.json")
MAX_WARNINGS = 20  # a record that fails everything says so once, not fifty times


def _refuse(uri: str) -> Resource:
    """Registry fallback for a URI not shipped: never fetch, say which reference is unknown."""
    raise NoSuchResource(ref=uri)


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The five POD v1.1 schemas under their official URIs (with and without the draft-04 ``#``)."""
    pairs = []
    for name in SCHEMA_FILES:
        contents = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT4)
        pairs += [(SCHEMA_BASE + name, resource), (SCHEMA_BASE + name + "#", resource)]
    return Registry(retrieve=_refuse).with_resources(pairs)  # type: ignore[call-arg]


@lru_cache(maxsize=2)
def validator(name: str = "dataset.json") -> Draft4Validator:
    """A draft-04 validator for one POD schema (``dataset.json`` or ``catalog.json``), built once."""
    schema = registry().contents(SCHEMA_BASE + name)
    return Draft4Validator(schema, registry=registry())


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _short(value: Any) -> str:
    s = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return s if len(s) <= 60 else s[:57] + "..."


def _describe(err: ValidationError) -> list[tuple[str, str]]:
    """(field, message) pairs for one error; ``required`` names each missing property as the field."""
    where = _path(err.absolute_path)
    kind = err.validator
    if kind == "required" and isinstance(err.instance, dict):
        missing = [p for p in err.validator_value if p not in err.instance]
        return [(_path([*err.absolute_path, p]), "missing (required by DCAT-US 1.1)") for p in missing]
    if kind == "dependencies" and isinstance(err.instance, dict):
        needs = [(k, v) for k, v in err.validator_value.items() if k in err.instance]
        out = []
        for key, dep in needs:
            for p in (dep.get("required", []) if isinstance(dep, dict) else dep):
                if p not in err.instance:
                    out.append((_path([*err.absolute_path, p]), f"missing (DCAT-US 1.1 requires it with {key})"))
        if out:
            return out
    field = where or "dataset"
    if kind == "pattern":
        return [(field, f"{_short(err.instance)} does not match the DCAT-US 1.1 pattern")]
    if kind == "anyOf":
        # "a list of distributions or null": the reason lies in the non-null branch, one level down
        inner = [e for e in err.context or [] if e.validator != "type" or e.validator_value != "null"]
        if inner and all(len(e.absolute_path) > len(err.absolute_path) for e in inner):
            return _describe(best_match(inner))
        return [(field, f"{_short(err.instance)} is none of the forms DCAT-US 1.1 allows")]
    if kind == "enum":
        allowed = ", ".join(str(v) for v in err.validator_value)
        return [(field, f"{_short(err.instance)} is not one of: {allowed}")]
    if kind == "type":
        return [(field, f"{_short(err.instance)} is not of type {err.validator_value}")]
    if kind in ("minLength", "minItems"):
        return [(field, "empty (DCAT-US 1.1 needs a value)")]
    return [(field, f"{kind}: {err.message[:120]}")]


def schema_problems(dataset: Any, name: str = "dataset.json") -> list[tuple[str, str]]:
    """Every schema error of one ``data.json`` dataset object as ``(field path, message)``, in document order."""
    errors = sorted(validator(name).iter_errors(dataset), key=lambda e: [str(p) for p in e.absolute_path])
    found: dict[tuple[str, str], None] = {}  # jsonschema reports "required" once per missing property
    for err in errors:
        for item in _describe(err):
            found.setdefault(item)
    out = list(found)
    if len(out) > MAX_WARNINGS:
        extra = len(out) - MAX_WARNINGS
        out = out[:MAX_WARNINGS] + [("dataset", f"{extra} more DCAT-US 1.1 schema errors not listed")]
    return out
