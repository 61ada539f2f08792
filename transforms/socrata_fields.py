"""Socrata asset fields that need interpretation.

A Socrata dataset reaches the mapping in one of three shapes: a Discovery API catalog entry
(``{"resource", "classification", "metadata", "permalink"...}``, ISO timestamps), a views-API document
(``/api/views/<id>.json``: flat, epoch-second timestamps, ``metadata.custom_fields``), or the harvester's
wrapper ``{"discovery", "view", "derived"}`` holding both. :class:`Asset` reads whichever is there, the view
first (it is the richer record), so the mapping asks one question per field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from transforms import vocab
from transforms.common import Out, text
from transforms.text import clean_line
from transforms.uris import is_http_url

_CC_ID = re.compile(r"^CC_(\d)(\d)_(BY(?:_(?:SA|ND|NC))*)$")
# Socrata's licenseId values that are not CC_<version>_<terms> → a spelling transforms.vocab knows.
_LICENCE_IDS = {"CC0_10": "CC0-1.0", "ODC_BY": "ODC-By-1.0", "ODC_ODBL": "ODbL-1.0", "ODBL": "ODbL-1.0",
                "PDDL": "PDDL-1.0", "CC_PDM_10": "CC-PDM-1.0"}
# Socrata's licence *names* (``license.name``, Discovery ``metadata.license``) that vocab cannot read: Seattle's
# view pairs "Creative Commons 1.0 Universal" with licenseId CC0_10 and the CC0 legal code.
_LICENCE_NAMES = {"creative commons 1.0 universal": "CC0-1.0",
                  "creative commons 1.0 universal (public domain dedication)": "CC0-1.0"}


@dataclass
class Asset:
    """The parts of a Socrata payload; ``view`` / ``disc`` are empty dicts when absent."""

    view: dict[str, Any]
    disc: dict[str, Any]
    derived: list[Any] = field(default_factory=list)

    @property
    def res(self) -> dict[str, Any]:
        r = self.disc.get("resource")
        return r if isinstance(r, dict) else {}

    @property
    def cls(self) -> dict[str, Any]:
        c = self.disc.get("classification")
        return c if isinstance(c, dict) else {}

    def first(self, view_key: str, disc_key: str) -> tuple[str, Any] | None:
        """(field name, value) from the view, else from ``resource.<disc_key>``; None when neither has one."""
        for name, value in ((view_key, self.view.get(view_key)), (f"resource.{disc_key}", self.res.get(disc_key))):
            if value not in (None, "", [], {}):
                return name, value
        return None

    @property
    def view_meta(self) -> dict[str, Any]:
        m = self.view.get("metadata")
        return m if isinstance(m, dict) else {}


def asset_of(payload: Any) -> Asset | None:
    """The three payload shapes (see module doc) → :class:`Asset`; None when it is none of them."""
    if not isinstance(payload, dict):
        return None
    if isinstance(payload.get("discovery"), dict) or isinstance(payload.get("view"), dict):
        derived = payload.get("derived")
        return Asset(payload.get("view") or {}, payload.get("discovery") or {},
                     derived if isinstance(derived, list) else [])
    if isinstance(payload.get("resource"), dict):
        return Asset({}, payload)
    if "id" in payload and ("viewType" in payload or "displayType" in payload or "name" in payload):
        return Asset(payload, {})
    return None


def custom_fields(a: Asset) -> dict[tuple[str, str], tuple[str, str]]:
    """(fieldset, field) lower-cased → (source field name, value), from ``metadata.custom_fields`` (views API)
    and ``classification.domain_metadata`` (Discovery: ``{"key": "Refresh-Frequency_Frequency", ...}``)."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    cf = a.view_meta.get("custom_fields")
    if isinstance(cf, dict):
        for fieldset, fields in cf.items():
            if isinstance(fields, dict):
                for name, value in fields.items():
                    if text(value) is not None:
                        out.setdefault((str(fieldset).lower(), str(name).lower()),
                                       (f"metadata.custom_fields.{fieldset}.{name}", str(value).strip()))
    dm = a.cls.get("domain_metadata")
    for item in dm if isinstance(dm, list) else []:
        if isinstance(item, dict) and isinstance(item.get("key"), str) and text(item.get("value")) is not None:
            fieldset, _, name = item["key"].partition("_")
            key = (fieldset.replace("-", " ").lower(), name.replace("-", " ").lower())
            out.setdefault(key, (f"classification.domain_metadata[{item['key']}]", str(item["value"]).strip()))
    return out


def licence_spelling(licence_id: str) -> str | None:
    """Socrata ``licenseId`` (``CC0_10``, ``CC_30_BY_SA``, ``ODC_ODBL``) → an SPDX-style id vocab knows."""
    s = licence_id.strip().upper()
    if m := _CC_ID.match(s):
        return f"CC-{m[3].replace('_', '-')}-{m[1]}.{m[2]}"
    return _LICENCE_IDS.get(s)


def socrata_licence(a: Asset, out: Out) -> tuple[vocab.Licence | None, str | None, str | None]:
    """(canonical licence, label as stated, licence document URI to link).

    The views API states a licence twice: ``licenseId`` (``CC0_10``) and ``license{name, termsLink}``; the
    Discovery API only ``metadata.license`` (a name). The terms link wins, then the id, then the name. An
    unrecognised terms link is still linked as the publisher's licence document (warning).
    """
    lic_obj = a.view.get("license") if isinstance(a.view.get("license"), dict) else {}
    meta = a.disc.get("metadata") if isinstance(a.disc.get("metadata"), dict) else {}
    terms_link = text(lic_obj.get("termsLink"))
    lid = text(a.view.get("licenseId"))
    name = clean_line(lic_obj.get("name")) or clean_line(meta.get("license")) or None
    label = name or lid or terms_link
    if label is None:
        return None, None, None
    candidates = [("license.termsLink", terms_link), ("licenseId", licence_spelling(lid) if lid else None),
                  ("license.name" if lic_obj.get("name") else "metadata.license", name)]
    for _, value in candidates:
        value = _LICENCE_NAMES.get(value.lower(), value) if value else None
        found = vocab.licence(value) if value else None
        if found is not None and found.uri:
            return found, label, found.uri
    if name and (found := vocab.licence_in_text(name)) is not None and found.uri:
        return found, label, found.uri
    if terms_link and is_http_url(terms_link):
        out.warn("license.termsLink", f"unrecognised licence {terms_link[:120]!r}: linked, but not identified")
        return None, label, terms_link
    where = "licenseId" if lid else ("license.name" if lic_obj.get("name") else "metadata.license")
    out.warn(where, f"unrecognised licence {label[:120]!r}; licence unknown")
    return None, label, None
