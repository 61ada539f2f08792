"""The ``sources.yaml`` models: what the pipeline, CLI and DAG factory may rely on.

Everything that reaches the pipeline has been through these models, so stage code never
re-checks a URL, a slug or a cron string. The models validate on their own (a test or a
script may build a :class:`SourceConfig` directly); reading a file, pointing every problem
to ``file:line`` and suggesting fixes lives in :mod:`citycat.config_check`.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from croniter import croniter
from pydantic import (BaseModel, ConfigDict, Field, SerializeAsAny, ValidationInfo, field_validator,
                      model_validator)

from harvesters import HarvesterOptions

ENV_SOURCES = "CITYCAT_SOURCES"
DEFAULT_SOURCES = "sources.yaml"

InstitutionKind = Literal["council", "combined-authority", "university", "nhs", "police", "national", "other"]
INSTITUTION_KINDS: dict[str, str] = {
    "council": "a local authority (county, district, metropolitan borough, unitary, London borough)",
    "combined-authority": "a combined or mayoral authority spanning several councils",
    "university": "a university or other higher-education / research body",
    "nhs": "an NHS body: trust, integrated care board, NHS England region",
    "police": "a police force or police and crime commissioner",
    "national": "a national body whose data covers the region (department, agency, regulator)",
    "other": "anything else: fire and rescue, transport executive, charity, company, community group",
}

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")  # Airflow's presets
CRON_FIELDS = (("minute", "0-59"), ("hour", "0-23"), ("day-of-month", "1-31"), ("month", "1-12 or jan-dec"),
               ("day-of-week", "0-6 or sun-sat"))
CRON_EXAMPLE = '"0 2 * * *" (every day at 02:00) or "@daily"'
HTTP_SCHEMES = ("http", "https")
EU_CC_BY_4_0 = "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a sources file, said so that the reader can fix it without the docs."""

    file: str
    line: int | None  # 1-based; None when the problem has no place (file missing, empty file)
    key: str  # key path, e.g. "sources[2].institution.kind"
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message} — fix: {self.fix}"


class ConfigError(Exception):
    """The sources file cannot be used; ``problems`` holds every problem found in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the sources configuration"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class UnknownSourceError(ConfigError, KeyError):
    """A source id asked for (CLI argument, DAG id) is not in the file."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return Exception.__str__(self)


def closest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The likeliest intended spelling, for 'did you mean' hints."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


# --------------------------------------------------------------------------- checks shared by models


def check_http_url(value: str, what: str = "URL") -> str:
    parts = urlsplit(value)
    if parts.scheme not in HTTP_SCHEMES or not parts.hostname:
        raise ValueError(f"{what} must be an absolute http(s) URL such as https://example.org, got {value!r}")
    return value


def check_cron(value: str) -> str:
    """Airflow accepts five-field cron strings and its own presets; say which rule was broken."""
    text = value.strip()
    if text.startswith("@"):
        if text not in CRON_PRESETS:
            raise ValueError(f"unknown preset {text!r}; Airflow knows {', '.join(CRON_PRESETS)}")
        return text
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"a cron schedule has 5 fields (minute hour day-of-month month day-of-week), "
                         f"this one has {len(fields)}")
    for i, (name, span) in enumerate(CRON_FIELDS):
        probe = " ".join(fields[i] if j == i else "*" for j in range(5))
        if not _cron_ok(probe):
            raise ValueError(f"the {name} field {fields[i]!r} is not valid (allowed: {span})")
    if not _cron_ok(text):
        raise ValueError("the fields are valid one by one but not together (e.g. 31 in a 30-day month)")
    return text


def _cron_ok(text: str) -> bool:
    try:
        croniter(text)
        return True
    except Exception:  # croniter raises several unrelated types for bad fields
        return False


def url_schemes_for(kind: str) -> tuple[str, ...]:
    """Which URL schemes a kind reads; a harvester class may declare ``url_schemes`` (default http/https)."""
    import harvesters

    cls = harvesters.registry().get(kind)
    return tuple(getattr(cls, "url_schemes", HTTP_SCHEMES)) if cls else HTTP_SCHEMES


def options_model_for(kind: str) -> type[HarvesterOptions] | None:
    import harvesters

    cls = harvesters.registry().get(kind)
    return cls.Options if cls else None


# --------------------------------------------------------------------------- models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstitutionConfig(_Strict):
    """Who holds the data; the publisher the audit report groups by."""

    name: str = Field(min_length=1)
    kind: InstitutionKind
    uri: str | None = None  # a stable http(s) identifier; the institution's home page will do

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value, "institution uri")


# the MQA link check task; off by default (see docs/mqa.md)
class LinkCheckOptions(_Strict):
    """The polite check of access/download URLs that feeds the MQA accessibility indicators."""

    enabled: bool = False
    max_age_days: float = Field(7, ge=0)  # a URL checked more recently is not checked again
    per_host_interval: float = Field(1.0, ge=0)  # seconds between two requests to one host
    timeout: float = Field(10.0, gt=0)  # seconds per request
    max_urls: int = Field(5000, ge=0)  # per run; the oldest checks are renewed first
    workers: int = Field(4, ge=1, le=32)  # hosts checked in parallel
    allow_private_addresses: bool = False  # request URLs on loopback/private networks (intranet catalogues)


class QualityConfig(_Strict):
    """Thresholds of the load gate for one source (see docs/sources.md)."""

    max_failed_share: float = Field(0.1, ge=0, le=1)
    max_drop: float = Field(0.5, ge=0, le=1)
    # the suite's thresholds and the quality pass; see docs/quality.md
    max_count_drop: float = Field(0.8, ge=0, le=1)
    modified_future_slack_hours: float = Field(24, ge=0)
    frequency_slack: float = Field(3, ge=1)
    data_docs: bool = True
    shacl: bool = True
    shacl_max_per_run: int = Field(500, ge=0)  # pyshacl runs (distinct skeletons): ~18 s at most
    link_check: LinkCheckOptions = LinkCheckOptions()


class DuplicatesConfig(_Strict):
    """Cross-source duplicate detection (docs/duplicates.md; maps onto inventory.clusters)."""

    enabled: bool = True
    source_priority: list[str] = []  # source ids, most authoritative first: primaries come from these
    title_threshold: float = Field(0.92, ge=0.5, le=1)
    publisher_threshold: float = Field(0.9, ge=0.5, le=1)


class CatalogConfig(_Strict):
    """The published catalogue's own description and where its URIs live."""

    base_uri: str = "http://localhost:8000"
    title: str = Field("City region data inventory", min_length=1)
    description: str = "Dataset metadata harvested from the region's institutions, normalised to DCAT-AP 3."
    publisher_name: str = Field("citycat", min_length=1)
    publisher_uri: str | None = None
    homepage: str | None = None
    licence_uri: str = EU_CC_BY_4_0
    page_size: int = Field(100, ge=1, le=10_000)
    duplicates: DuplicatesConfig = DuplicatesConfig()

    @field_validator("base_uri")
    @classmethod
    def _base(cls, value: str) -> str:
        return check_http_url(value, "base_uri").rstrip("/")

    @field_validator("publisher_uri", "homepage", "licence_uri")
    @classmethod
    def _uris(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_http_url(value, info.field_name or "URI")


class SourceConfig(_Strict):
    """One catalogue to harvest. ``options`` is the kind's own typed options model."""

    id: str
    title: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    url: str
    institution: InstitutionConfig
    schedule: str = "0 2 * * *"
    enabled: bool = True
    quality: QualityConfig = QualityConfig()
    airflow_conn_id: str | None = None  # an Airflow connection holding this source's credentials
    # harvest tasks allowed against this source's host at once, across all DAG runs
    # (one Airflow pool per host, see citycat/pools.py); sources sharing a host share the smallest value.
    max_parallel_harvests: int = Field(1, ge=1, le=32)
    options: SerializeAsAny[HarvesterOptions] = HarvesterOptions()

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            raise ValueError(f"id {value!r} is not a slug: use 1-63 lower-case letters, digits, '-' or '_', "
                             "starting with a letter or digit")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        schemes = url_schemes_for(info.data.get("kind", ""))
        parts = urlsplit(value)
        if "file" in schemes and (parts.scheme in ("", "file") or (len(parts.scheme) == 1 and value[1:2] == ":")):
            return value  # a path or file: URL, for kinds that read files
        if parts.scheme not in HTTP_SCHEMES or not parts.hostname:
            allowed = " or ".join(f"{s}:" for s in schemes)
            raise ValueError(f"url must be an absolute {allowed} URL such as https://data.example.org, got {value!r}")
        if parts.scheme not in schemes:
            raise ValueError(f"kind {info.data.get('kind')!r} does not read {parts.scheme}: URLs")
        if parts.username or parts.password:
            raise ValueError("url carries a user name or password; credentials go in an environment variable")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("airflow_conn_id")
    @classmethod
    def _conn(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9_.-]{1,250}$", value):
            raise ValueError("airflow_conn_id must be a connection id (letters, digits, '_', '-', '.')")
        return value

    @model_validator(mode="before")
    @classmethod
    def _typed_options(cls, data: Any) -> Any:
        """Accept ``options`` as a dict and build the kind's own model from it (defaults included)."""
        if isinstance(data, dict) and isinstance(data.get("options", {}), dict):
            model = options_model_for(str(data.get("kind", "")))
            if model is not None:
                data = {**data, "options": model.model_validate(data.get("options") or {})}
        return data

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> "SourceConfig":
        """Build from the flat ``sources.yaml`` shape, where options sit beside the core keys."""
        core = {k: v for k, v in entry.items() if k in CORE_KEYS}
        core["options"] = {k: v for k, v in entry.items() if k not in CORE_KEYS}
        return cls.model_validate(core)

    @property
    def host(self) -> str:
        """The host politeness limits are kept per; file sources count as 'localhost'."""
        return (urlsplit(self.url).hostname or "localhost").lower()


CORE_KEYS = tuple(k for k in SourceConfig.model_fields if k != "options")


class SourcesFile(BaseModel):
    """A checked sources file. ``path`` is where it was read from (for messages and relative paths)."""

    model_config = ConfigDict(frozen=True)

    catalog: CatalogConfig = CatalogConfig()
    sources: list[SourceConfig]
    path: Path

    def get(self, source_id: str) -> SourceConfig:
        for source in self.sources:
            if source.id == source_id:
                return source
        ids = [s.id for s in self.sources]
        guess = closest(source_id, ids)
        fix = (f"did you mean {guess!r}? " if guess else "") + f"use one of: {', '.join(ids) or '(none)'}"
        raise UnknownSourceError([Problem(str(self.path), None, "sources",
                                          f"no source with id {source_id!r}", fix)])

    @property
    def enabled(self) -> list[SourceConfig]:
        return [s for s in self.sources if s.enabled]

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.sources]


# --------------------------------------------------------------------------- entry points


def resolve_path(path: str | Path | None = None) -> Path:
    """The file to read: the argument, else ``$CITYCAT_SOURCES``, else ``./sources.yaml``."""
    if path is not None and str(path) != "":
        return Path(path)
    return Path(os.environ.get(ENV_SOURCES) or DEFAULT_SOURCES)


def load_sources(path: str | Path | None = None) -> SourcesFile:
    """Read and check a sources file; raise :class:`ConfigError` listing every problem."""
    from citycat.config_check import parse

    sources_file, problems = parse(resolve_path(path))
    if problems or sources_file is None:
        raise ConfigError(problems)
    return sources_file


def check_sources(path: str | Path | None = None) -> list[Problem]:
    """Every problem in a sources file, in file order; an empty list means it loads."""
    from citycat.config_check import parse

    return parse(resolve_path(path))[1]
