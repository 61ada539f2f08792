"""Deterministic synthetic CKAN packages for benchmarks and scale tests.

Package *i* is a pure function of ``(i, seed, last generation that changed it)``, so a
portal of 100,000 packages is served without holding them: only a sort order (one int per
package) is kept. ``metadata_modified`` grows with the position in that order, so a
``metadata_modified`` window is a range of positions found by bisection.

Generations model re-harvests: in generation *g* ≥ 1 a ``modified_fraction`` of packages
(chosen by hash) is edited; an edited package gets a later ``metadata_modified`` and
changed content, and moves to the end of the modification order, exactly as on a real
portal. Generation 0 is the first harvest.
"""

from __future__ import annotations

import random
import zlib
from array import array
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

T0 = datetime(2020, 1, 1, tzinfo=timezone.utc)
STEP = timedelta(seconds=60)

ORGS = [("leeds-city-council", "Leeds City Council"),
        ("bradford-council", "City of Bradford MDC"),
        ("wakefield-council", "Wakefield Council"), ("kirklees-council", "Kirklees Council"),
        ("calderdale-council", "Calderdale Council"), ("york-council", "City of York Council"),
        ("west-yorkshire-ca", "West Yorkshire Combined Authority"),
        ("university-of-leeds", "University of Leeds"),
        ("leeds-teaching-hospitals", "Leeds Teaching Hospitals NHS Trust"),
        ("west-yorkshire-police", "West Yorkshire Police"), ("environment-agency", "Environment Agency"),
        ("ons", "Office for National Statistics")]
LICENCES = [("uk-ogl", "UK Open Government Licence (OGL)",
             "http://reference.data.gov.uk/id/open-government-licence"),
            ("cc-by", "Creative Commons Attribution", "http://www.opendefinition.org/licenses/cc-by"),
            ("odc-odbl", "Open Data Commons Open Database License (ODbL)",
             "http://www.opendefinition.org/licenses/odc-odbl"),
            ("notspecified", "License not specified", ""),
            ("OGL-UK-3.0", "Open Government Licence v3.0", "")]
FORMATS = [("CSV", "text/csv"), ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
           ("GeoJSON", "application/geo+json"), ("WMS", None), ("PDF", "application/pdf"), ("API", None),
           ("csv", None), ("JSON", "application/json")]
TOPICS = ["air quality", "bus stops", "school admissions", "planning applications", "street lighting",
          "recycling centres", "libraries", "council tax bands", "road traffic counts", "parking fines",
          "allotments", "public toilets", "footfall", "flood risk", "tree preservation orders", "licensing"]
WORDS = ("data records published monthly council area ward boundary statistics annual survey "
         "service location public open licence update quality figures residents spending").split()
FREQUENCIES = ["monthly", "annual", "weekly", "daily", "quarterly", "irregular", "never", "asNeeded"]


def _unit(seed: int, generation: int, index: int) -> float:
    return zlib.crc32(f"{seed}:{generation}:{index}".encode()) / 4294967296.0


def _choices(rng: random.Random, seq: list[str], count: int) -> list[str]:
    """``[rng.choice(seq) for _ in range(count)]``, the same draws without two calls per draw.

    ``Random.choice`` is ``seq[self._randbelow(len(seq))]`` and ``_randbelow`` draws ``n.bit_length()``
    bits until the value is below ``n`` (CPython 3.11-3.13); inlined here because it was a third of
    serving a package. tests/test_normalise_golden.py pins the packages it makes."""
    n = len(seq)
    k = n.bit_length()
    bits = rng.getrandbits
    out = []
    for _ in range(count):
        r = bits(k)
        while r >= n:
            r = bits(k)
        out.append(seq[r])
    return out


def _ckan_time(when: datetime) -> str:
    """CKAN's naive-UTC timestamp, ``strftime("%Y-%m-%dT%H:%M:%S.%f")`` for years 1000-9999, ~4x faster."""
    return when.replace(tzinfo=None).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class SyntheticSpec:
    count: int
    seed: int = 0
    generation: int = 0
    modified_fraction: float = 0.01
    harvest_every: int = 0  # every k-th package is a harvest-source package (0 = none)
    deleted_every: int = 0  # every k-th package is served with state "deleted" (0 = none)


class SyntheticPackages:
    """The package set of one spec: sort order, window bisection and on-demand dicts."""

    def __init__(self, spec: SyntheticSpec) -> None:
        self.spec = spec
        gens = bytearray(spec.count)
        for g in range(1, spec.generation + 1):
            for i in range(spec.count):
                if _unit(spec.seed, g, i) < spec.modified_fraction:
                    gens[i] = g
        self._gens = gens
        buckets: list[array] = [array("i") for _ in range(spec.generation + 1)]
        for i in range(spec.count):
            buckets[gens[i]].append(i)
        self.order = array("i")
        for bucket in buckets:
            self.order.extend(bucket)

    def __len__(self) -> int:
        return self.spec.count

    # -- attributes computable without building the dict ------------------------------

    def last_generation(self, i: int) -> int:
        return self._gens[i]

    def modified(self, i: int) -> datetime:
        g = self._gens[i]
        if g == 0:
            return T0 + i * STEP + timedelta(microseconds=(i * 7919) % 1_000_000)
        base = T0 + self.spec.count * STEP + timedelta(days=g)
        return base + timedelta(milliseconds=i)

    def org(self, i: int) -> tuple[str, str]:
        return ORGS[i % len(ORGS)]

    def type_of(self, i: int) -> str:
        k = self.spec.harvest_every
        return "harvest" if k and i % k == k - 1 else "dataset"

    def package_id(self, i: int) -> str:
        h = zlib.crc32(f"{self.spec.seed}:{i}".encode())
        return f"{h:08x}-{(h >> 16) & 0xffff:04x}-4{(h >> 4) & 0xfff:03x}-a{self.spec.seed & 0xfff:03x}-{i:012x}"

    def name(self, i: int) -> str:
        return f"{self.org(i)[0]}-dataset-{i:07d}"

    def index_of(self, id_or_name: str) -> int | None:
        """Invert :meth:`package_id` / :meth:`name` (both encode the index)."""
        tail = id_or_name.rsplit("-", 1)[-1]
        for base in (16, 10):
            try:
                i = int(tail, base)
            except ValueError:
                continue
            if 0 <= i < self.spec.count and id_or_name in (self.package_id(i), self.name(i)):
                return i
        return None

    def position_at(self, when: datetime, inclusive: bool) -> int:
        """First position whose time is >= ``when`` (``> when`` when not inclusive)."""
        lo, hi = 0, len(self.order)
        while lo < hi:
            mid = (lo + hi) // 2
            t = self.modified(self.order[mid])
            if t < when or (not inclusive and t == when):
                lo = mid + 1
            else:
                hi = mid
        return lo

    # -- the package dict ----------------------------------------------------------------

    def package(self, i: int) -> dict[str, Any]:
        spec = self.spec
        g = self._gens[i]
        rng = random.Random(spec.seed * 1_000_003 + i)
        pid, name = self.package_id(i), self.name(i)
        org_name, org_title = self.org(i)
        org_id = f"00000000-0000-4000-8000-{ORGS.index((org_name, org_title)):012d}"
        topic = TOPICS[i % len(TOPICS)]
        lic = LICENCES[rng.randrange(len(LICENCES))]
        created = T0 - timedelta(days=rng.randrange(1, 2000)) + timedelta(seconds=rng.randrange(86400))
        modified = self.modified(i)
        notes = " ".join(_choices(rng, WORDS, rng.randrange(25, 70)))
        title = f"{topic.capitalize()} in {org_title} ({i})" + (f" - revision {g}" if g else "")
        tags = sorted(set(_choices(rng, TOPICS, rng.randrange(3, 7))) | {topic})
        resources = []
        for r in range(rng.randrange(2, 6)):
            fmt, mime = FORMATS[(i + r) % len(FORMATS)]
            r_created = created + timedelta(hours=r)
            resources.append({
                "id": f"{pid[:24]}{r:012x}", "package_id": pid, "position": r, "state": "active",
                "name": f"{topic} {fmt} {r + 1}", "description": f"{topic} as {fmt}, part {r + 1}",
                "format": fmt, "mimetype": mime, "size": rng.randrange(1000, 50_000_000) if r % 3 else None,
                "url": f"https://data.example.org/{org_name}/{name}/resource-{r}.{fmt.lower()}",
                "created": _ckan_time(r_created),  # CKAN style: naive UTC
                "last_modified": (modified.isoformat() if r % 2 else None), "url_type": None,
                "resource_type": "api" if fmt in ("API", "WMS") else "file", "hash": "", "cache_url": None,
            })
        issued = created.date().isoformat() if i % 2 else created.isoformat()  # date-only vs with tz
        return {
            "id": pid, "name": name, "title": title, "type": self.type_of(i),
            "state": "deleted" if spec.deleted_every and i % spec.deleted_every == spec.deleted_every - 1 else "active",
            "private": False, "notes": notes, "url": f"https://www.example.org/{org_name}/{topic.replace(' ', '-')}",
            "version": f"{g + 1}.0", "author": org_title, "author_email": f"opendata@{org_name}.example.org",
            "maintainer": "Open Data Team", "maintainer_email": f"data@{org_name}.example.org",
            "license_id": lic[0], "license_title": lic[1], "license_url": lic[2], "isopen": lic[0] != "notspecified",
            "metadata_created": _ckan_time(created),
            "metadata_modified": _ckan_time(modified),
            "creator_user_id": "11111111-2222-4333-8444-555555555555", "owner_org": org_id,
            "organization": {"id": org_id, "name": org_name, "title": org_title, "type": "organization",
                             "is_organization": True, "state": "active", "approval_status": "approved",
                             "description": f"Open data published by {org_title}.", "image_url": "",
                             "created": "2013-05-18T11:48:54.524965"},
            "num_tags": len(tags), "tags": [{"id": f"tag-{t.replace(' ', '-')}", "name": t, "display_name": t,
                                             "state": "active", "vocabulary_id": None} for t in tags],
            "groups": [], "relationships_as_object": [], "relationships_as_subject": [],
            "num_resources": len(resources), "resources": resources,
            "extras": [{"key": "frequency", "value": FREQUENCIES[i % len(FREQUENCIES)]},
                       {"key": "issued", "value": issued},
                       {"key": "spatial", "value": '{"type": "Polygon", "coordinates": [[[-1.8, 53.7], '
                                                   '[-1.3, 53.7], [-1.3, 53.9], [-1.8, 53.9], [-1.8, 53.7]]]}'},
                       {"key": "theme-primary", "value": "Government"}],
        }


class SyntheticStore:
    """A local-portal store over :class:`SyntheticPackages`: a filter (``citycat.localportal.Filter``)
    becomes a position range by bisection, plus a cached predicate scan for org/type filters."""

    def __init__(self, spec: SyntheticSpec) -> None:
        self.set = SyntheticPackages(spec)
        self._cache: dict[tuple, Any] = {}

    def _positions(self, flt: Any) -> Any:
        key = (flt.lo, flt.hi, flt.lo_incl, flt.hi_incl, frozenset(flt.orgs or ()), frozenset(flt.types or ()),
               flt.orgs is None, flt.types is None)
        if key not in self._cache:
            s = self.set
            a = s.position_at(flt.lo, flt.lo_incl) if flt.lo else 0
            b = s.position_at(flt.hi, not flt.hi_incl) if flt.hi else len(s.order)
            positions: Any = range(a, max(a, b))
            if flt.orgs is not None or flt.types is not None:
                positions = [p for p in positions
                             if (flt.orgs is None or s.org(s.order[p])[0] in flt.orgs)
                             and (flt.types is None or s.type_of(s.order[p]) in flt.types)]
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = positions
        return self._cache[key]

    def search(self, flt: Any, start: int, rows: int, desc: bool) -> tuple[int, list[dict]]:
        positions = self._positions(flt)
        if desc:
            positions = positions[::-1]
        return len(positions), [self.set.package(self.set.order[p]) for p in positions[start:start + rows]]

    def show(self, ref: str) -> dict | None:
        i = self.set.index_of(ref)
        return None if i is None else self.set.package(i)

    def names(self) -> list[str]:
        return [self.set.name(i) for i in range(len(self.set))]

    def organizations(self) -> list[str]:
        return sorted({self.set.org(i)[0] for i in range(min(len(self.set), 100))})
