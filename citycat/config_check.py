"""Read a sources file and report every problem with ``file:line``, key path and fix.

Why a checker beside the pydantic models: pydantic stops at model boundaries and knows
neither line numbers nor which harvester kinds exist, and a data engineer editing
``sources.yaml`` should see all problems at once, each with the fix, rather than one per
run. ruamel.yaml keeps the line of every key, so each pydantic error is located by
walking its ``loc`` through the loaded nodes.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from citycat.config import (CORE_KEYS, CRON_EXAMPLE, ENV_NAME_RE, INSTITUTION_KINDS, CatalogConfig,
                            InstitutionConfig, Problem, QualityConfig, SourceConfig, SourcesFile, closest)
from harvesters import HarvesterOptions

TOP_KEYS = ("catalog", "sources")
SECRET_NAME_RE = re.compile(r"api[_-]?key|password|passwd|token|secret|authorization|bearer|credential"
                            r"|private[_-]?key|access[_-]?key", re.IGNORECASE)
REFERENCE_SUFFIXES = ("_env", "_conn_id")

# What to write instead, per key path (without the sources[i]. prefix).
HINTS: dict[str, str] = {
    "id": "use a short lower-case slug such as leeds-city-council (it names the DAG harvest__<id>, "
          "files and URIs, so keep it stable)",
    "title": "add title: <human-readable name of the catalogue>",
    "url": "add url: https://… — the portal's site root (for CKAN, the address before /api/3/action)",
    "institution": "add institution: {name: <who holds the data>, kind: council}",
    "institution.name": "add name: <the institution's name> under institution",
    "institution.kind": "use one of: " + ", ".join(INSTITUTION_KINDS),
    "institution.uri": "use the institution's http(s) home page, or leave uri out",
    "schedule": f"use a 5-field cron string (minute hour day month weekday) such as {CRON_EXAMPLE}",
    "enabled": "write enabled: true or enabled: false",
    "quality": "write quality: {max_failed_share: 0.1, max_drop: 0.5}",
    "quality.max_failed_share": "use a share between 0 and 1, e.g. max_failed_share: 0.1",
    "quality.max_drop": "use a share between 0 and 1, e.g. max_drop: 0.5",
    "airflow_conn_id": "use the id of a connection defined in Airflow, e.g. airflow_conn_id: ckan_leeds",
    "catalog.base_uri": "use the http(s) address the feed is served from, e.g. https://data.example.org/citycat",
    "catalog.publisher_uri": "use the publisher's http(s) home page, or leave it out",
    "catalog.homepage": "use an http(s) URL, or leave it out",
    "catalog.licence_uri": "use a licence URI, e.g. http://publications.europa.eu/resource/authority/licence/CC_BY_4_0",
    "catalog.page_size": "use a whole number between 1 and 10000, e.g. page_size: 100",
}
EXPECTED = {"int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
            "float_parsing": "a number", "float_type": "a number", "bool_parsing": "true or false",
            "bool_type": "true or false", "string_type": "text", "list_type": "a list",
            "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping"}
# Sub-models whose allowed keys a 'did you mean' hint should list, by their path in an entry.
SUBMODELS: dict[tuple[str, ...], type[BaseModel]] = {("institution",): InstitutionConfig, ("quality",): QualityConfig}


def parse(path: Path) -> tuple[SourcesFile | None, list[Problem]]:
    """Check ``path``; return the loaded file (``None`` if any problem) and every problem found."""
    import harvesters

    _load_builtin(harvesters)
    name = str(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "not found"
        return None, [Problem(name, None, "(file)", f"sources file {what}",
                              "pass --sources FILE or set $CITYCAT_SOURCES to a sources.yaml "
                              "(start from the one shipped at the repository root)")]
    try:
        root = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        return None, [Problem(name, None, "(file)", f"not UTF-8 text ({exc.reason})", "save the file as UTF-8")]
    except MarkedYAMLError as exc:
        return None, [_yaml_problem(name, exc)]
    checker = _Checker(name, sorted(harvesters.registry()))
    result = checker.run(root, path)
    problems = sorted(checker.problems, key=lambda p: p.line or 0)
    return (None if problems else result), problems


def _load_builtin(harvesters: Any) -> None:
    """Register built-in kinds; a built-in module not written yet only means fewer kinds."""
    try:
        harvesters.load_builtin()
    except ImportError as exc:
        missing = re.search(r"cannot import name '(\w+)' from 'harvesters'", str(exc))
        gone = (exc.name or "").startswith("harvesters.") if isinstance(exc, ModuleNotFoundError) else (
            bool(missing) and importlib.util.find_spec(f"harvesters.{missing.group(1)}") is None)
        if not gone:
            raise


def _yaml_problem(name: str, exc: MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    # ruamel quotes duplicated values; they may be secrets, so keep only the key
    problem = re.sub(r' with value ".*', "", str(exc.problem or exc.context or "invalid YAML"), flags=re.S)
    fix = "correct the YAML at that position (indent with spaces, one key per line, `key: value`)"
    if "cannot start any token" in problem:
        fix = 'quote values that start with @, `, %, | or >, e.g. schedule: "@daily"'
    elif "duplicate key" in problem:
        fix = "keep only one of the repeated keys in that mapping"
    elif "tab" in problem.lower():
        fix = "indent with spaces, not tabs"
    return Problem(name, line, "(yaml)", f"YAML syntax error at column {column}: {problem}", fix)


def plain(node: Any) -> Any:
    """ruamel's round-trip types as plain Python (pydantic and messages should not see them)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for kind in (str, int, float):
        if isinstance(node, kind):
            return kind(node)
    return node


def _line_of(node: Any, loc: tuple[Any, ...], default: int | None) -> int | None:
    """1-based line of the deepest element of ``loc`` present in the loaded YAML."""
    line = default
    for part in loc:
        try:
            if isinstance(node, dict) and part in node:
                line = node.lc.key(part)[0] + 1
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
            else:
                break
        except (AttributeError, KeyError, TypeError):  # merged (<<:) keys have no position of their own
            pass
        node = node[part]
    return line


def _present(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The parts of ``loc`` that name real keys/indexes (pydantic's union tags such as 'list[str]' dropped)."""
    out: list[Any] = []
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        elif isinstance(part, str) and not isinstance(data, dict):
            continue  # a union member's tag: the value itself is checked against that member
        else:
            break
        out.append(part)
    return tuple(out)


def _dotted(prefix: str, loc: tuple[Any, ...]) -> str:
    text = prefix
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Checker:
    """One pass over a loaded file, collecting problems instead of stopping at the first."""

    def __init__(self, name: str, kinds: list[str]) -> None:
        self.name = name
        self.kinds = kinds
        self.problems: list[Problem] = []

    def add(self, line: int | None, key: str, message: str, fix: str) -> None:
        self.problems.append(Problem(self.name, line, key, message, fix))

    # ------------------------------------------------------------------ file level

    def run(self, root: Any, path: Path) -> SourcesFile | None:
        if root is None:
            self.add(None, "(file)", "the file is empty", "start from the sources.yaml shipped at the repository root")
            return None
        if not isinstance(root, dict):
            self.add(1, "(file)", "the top level must be a mapping with 'catalog:' and 'sources:'",
                     "write `catalog:` and `sources:` as top-level keys")
            return None
        for key in root:
            if key not in TOP_KEYS and not str(key).startswith("x-"):
                guess = closest(str(key), TOP_KEYS)
                self.add(_line_of(root, (key,), 1), str(key), f"unknown top-level key {str(key)!r}",
                         (f"did you mean {guess!r}? " if guess else "") +
                         "the top level holds catalog: and sources: (keys starting with x- are free, e.g. for anchors)")
        catalog = self.catalog(root)
        sources = self.sources(root)
        if catalog is None or sources is None:
            return None
        return SourcesFile(catalog=catalog, sources=sources, path=path)

    def catalog(self, root: dict) -> CatalogConfig | None:
        node = root.get("catalog")
        if node is None:
            return CatalogConfig()
        if not isinstance(node, dict):
            self.add(_line_of(root, ("catalog",), 1), "catalog", "catalog must be a mapping of keys",
                     "write catalog: with indented keys such as base_uri: and title:")
            return None
        try:
            return CatalogConfig.model_validate(plain(node))
        except ValidationError as exc:
            self.pydantic(exc, node, "catalog", _line_of(root, ("catalog",), 1), "catalog", CatalogConfig)
            return None

    def sources(self, root: dict) -> list[SourceConfig] | None:
        if "sources" not in root:
            self.add(None, "sources", "missing top-level 'sources:' list",
                     "add `sources:` with one entry per catalogue (id, title, kind, url, institution)")
            return None
        node = root["sources"]
        line = _line_of(root, ("sources",), 1)
        if not isinstance(node, list) or not node:
            self.add(line, "sources", "sources must be a non-empty list" if isinstance(node, list) or node is None
                     else "sources must be a list, one '- id: ...' entry per catalogue",
                     "write each source as a list item starting with '- id: <slug>'")
            return None
        before = len(self.problems)
        built = [self.entry(node, i) for i in range(len(node))]
        self.duplicates(node)
        if len(self.problems) > before or any(s is None for s in built):
            return None
        return [s for s in built if s is not None]

    def duplicates(self, seq: list) -> None:
        first: dict[str, int] = {}
        for i, entry in enumerate(seq):
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                continue
            sid, line = entry["id"], _line_of(seq, (i, "id"), None) or 0
            if sid in first:
                self.add(line, f"sources[{i}].id", f"duplicate id {sid!r}: used at line {first[sid]} and line {line}",
                         "give each source its own id (ids name DAGs, files and URIs)")
            else:
                first[sid] = line

    # ------------------------------------------------------------------ one entry

    def entry(self, seq: list, i: int) -> SourceConfig | None:
        node, key = seq[i], f"sources[{i}]"
        line = _line_of(seq, (i,), None)
        if not isinstance(node, dict):
            self.add(line, key, "each source must be a mapping of keys",
                     "write the entry as '- id: <slug>' followed by indented title:, kind:, url:, institution:")
            return None
        before = len(self.problems)
        secrets = self.secrets(node, key, line, str(node.get("id", i)))
        kind = node.get("kind")
        options_model = self.kind(node, key, line)
        options: HarvesterOptions | None = HarvesterOptions()
        if options_model is not None:
            raw = {k: v for k, v in node.items() if k not in CORE_KEYS and k not in secrets}
            options = self.options(node, raw, options_model, key, line, str(kind))
        core = {k: plain(node[k]) for k in CORE_KEYS if k in node}
        try:
            source = SourceConfig.model_validate({**core, "options": options or HarvesterOptions()})
        except ValidationError as exc:
            self.pydantic(exc, node, key, line, "", SourceConfig)
            return None
        return source if len(self.problems) == before else None

    def kind(self, node: dict, key: str, line: int | None) -> type[HarvesterOptions] | None:
        import harvesters

        kind = node.get("kind")
        if kind is None or (isinstance(kind, str) and not kind):
            return None  # reported by pydantic as a missing key
        if not isinstance(kind, str) or kind not in self.kinds:
            guess = closest(str(kind), self.kinds)
            self.add(_line_of(node, ("kind",), line), f"{key}.kind", f"unknown kind {_short(plain(kind))}",
                     (f"did you mean {guess!r}? " if guess else "") +
                     f"use one of: {', '.join(self.kinds) or '(no harvester kinds are installed)'}")
            return None
        return harvesters.registry()[kind].Options

    def options(self, node: dict, raw: dict, model: type[HarvesterOptions], key: str, line: int | None,
                kind: str) -> HarvesterOptions | None:
        allowed = list(model.model_fields)
        ok = True
        for name in list(raw):
            if name in allowed:
                continue
            ok = False
            guess = closest(str(name), allowed + list(CORE_KEYS))
            self.add(_line_of(node, (name,), line), f"{key}.{name}", f"unknown key {str(name)!r} for kind {kind!r}",
                     (f"did you mean {guess!r}? " if guess else "") +
                     f"keys of every source: {', '.join(CORE_KEYS)}; options of {kind}: {', '.join(allowed) or '(none)'}")
            del raw[name]
        try:
            built = model.model_validate(plain(raw))
        except ValidationError as exc:
            self.pydantic(exc, node, key, line, "", model)
            return None
        return built if ok else None

    def secrets(self, node: dict, key: str, line: int | None, sid: str) -> set[str]:
        """Flag literal credentials; return the entry's own keys that held one (kept out of options)."""
        env_name = "CITYCAT_" + re.sub(r"[^A-Za-z0-9]", "_", sid).upper() + "_API_KEY"
        fix = (f"remove the value from the file, set api_key_env: {env_name} and export the key in that variable "
               f"(or set airflow_conn_id: <connection id> when running under Airflow)")
        found: set[str] = set()

        def walk(mapping: dict, loc: tuple[Any, ...]) -> None:
            for name, value in mapping.items():
                here, text = loc + (name,), str(name)
                if isinstance(value, dict):
                    walk(value, here)
                    continue
                where = _line_of(node, here, line)
                if text.endswith("_env") and value is not None and not (isinstance(value, str)
                                                                        and ENV_NAME_RE.match(value)):
                    self.add(where, _dotted(key, here), f"{text} must name an environment variable, not hold a value",
                             f"write {text}: {env_name} and export the key in that variable")
                    found.update({name} if len(here) == 1 else set())
                elif (SECRET_NAME_RE.search(text) and not text.endswith(REFERENCE_SUFFIXES)
                      and isinstance(value, (str, int, float)) and not isinstance(value, bool)
                      and str(value).strip()):  # a switch (resend_prefix_with_token: true) holds no secret
                    self.add(where, _dotted(key, here), f"secret written inline in {text!r} (value not shown)", fix)
                    found.update({name} if len(here) == 1 else set())

        walk(node, ())
        url = node.get("url")
        if isinstance(url, str):
            parts = urlsplit(url)
            leaked = [k for k, _ in parse_qsl(parts.query) if SECRET_NAME_RE.search(k) or k.lower() == "key"]
            if parts.password or leaked:
                self.add(_line_of(node, ("url",), line), f"{key}.url",
                         "url carries a credential" + (f" in {', '.join(leaked)}" if leaked else " (user:password@)"),
                         fix)
                found.add("url")
        return found - {"url"}

    # ------------------------------------------------------------------ pydantic errors

    def pydantic(self, exc: ValidationError, node: Any, prefix: str, line: int | None, hint_prefix: str,
                 model: type[BaseModel]) -> None:
        data = plain(node)
        merged: dict[tuple[Any, ...], list[dict]] = {}
        for err in exc.errors():
            loc = tuple(err["loc"])
            if loc[:1] == ("options",):
                continue  # options are checked on their own, against the kind's model
            if err["type"] in ("missing", "extra_forbidden"):
                real = _present(data, loc[:-1]) + (loc[-1],)
            else:
                real = _present(data, loc)
            merged.setdefault(real, []).append(err)
        for loc, errs in merged.items():
            if any(len(other) > len(loc) and other[:len(loc)] == loc for other in merged):
                continue  # a union: the deeper error shows the member whose shape matched
            path = _dotted(prefix, loc)
            hint_key = ".".join(str(p) for p in ((hint_prefix,) if hint_prefix else ()) + loc if not isinstance(p, int))
            where = _line_of(node, loc, line)
            message, fix = self.describe(errs, loc, hint_key, model)
            if path.endswith(".url") and any("credential" in p.message and p.key == path for p in self.problems):
                continue  # already reported as an inline secret
            self.add(where, path, message, fix)

    def describe(self, errs: list[dict], loc: tuple[Any, ...], hint_key: str,
                 model: type[BaseModel]) -> tuple[str, str]:
        err = errs[0]
        name = str(loc[-1]) if loc else ""
        if loc and isinstance(loc[-1], int):  # a list item: speak of the list's key
            name = next((str(p) for p in reversed(loc) if not isinstance(p, int)), name)
        kind = err["type"]
        hint = HINTS.get(hint_key)
        if kind == "missing":
            return f"missing required key {name!r}", hint or f"add {name}: <value>"
        if kind == "extra_forbidden":
            sub = SUBMODELS.get(tuple(p for p in loc[:-1] if not isinstance(p, int)), model)
            allowed = [k for k in sub.model_fields if k != "options"]
            guess = closest(name, allowed)
            return (f"unknown key {name!r}",
                    (f"did you mean {guess!r}? " if guess else "") + f"allowed keys here: {', '.join(allowed)}")
        if kind == "literal_error":
            choices = re.findall(r"'([^']+)'", err["msg"])
            guess = closest(str(err.get("input")), choices)
            return (f"{_short(err.get('input'))} is not one of: {', '.join(choices)}",
                    (f"did you mean {guess!r}? " if guess else "") + (hint or f"use one of: {', '.join(choices)}"))
        if kind in ("value_error", "assertion_error"):
            return err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, "), hint or "see docs/sources.md"
        wanted = list(dict.fromkeys(EXPECTED[e["type"]] for e in errs if e["type"] in EXPECTED))
        if wanted:
            message = f"expected {' or '.join(wanted)}, got {_short(err.get('input'))}"
        else:
            message = f"{err['msg'][:1].lower()}{err['msg'][1:]} (got {_short(err.get('input'))})"
        if loc and isinstance(loc[-1], int):
            return message, hint or f"write every item of {name} {'as ' + ' or '.join(wanted) if wanted else 'as documented'}"
        return message, hint or self.example(model, name, wanted)

    @staticmethod
    def example(model: type[BaseModel], name: str, wanted: list[str]) -> str:
        what = f"as {' or '.join(wanted)}" if wanted else "within the allowed range"
        field = model.model_fields.get(name)
        if field is not None and field.default not in (None, ...) and not callable(field.default):
            default = field.default
            shown = (str(default).lower() if isinstance(default, bool) else
                     f"[{', '.join(map(str, default))}]" if isinstance(default, list) else default)
            return f"write {name} {what}, e.g. {name}: {shown} (the default)"
        return f"write {name} {what} (see docs/sources.md)"
