"""The flat row: one dict per dataset, the columns every stage after normalise agrees on.

Expectations run over these columns (pandas), the inventory stores them as JSON next to
the graph, the report and the CSV export read them. Keep this list and docs/flat-row.md
in step (tests/test_flat_row.py checks both).
"""

from __future__ import annotations

from typing import Any

# name -> (JSON type, meaning)
FLAT_COLUMNS: dict[str, tuple[str, str]] = {
    "uri": ("str", "the dataset's stable URI"),
    "identifier": ("str", "the source's own identifier (dct:identifier)"),
    "source_id": ("str", "the sources.yaml id it was harvested from"),
    "native_id": ("str", "the record id in the source's protocol"),
    "title": ("str", "dct:title, cleaned"),
    "description": ("str|null", "dct:description as plain text"),
    "publisher": ("str|null", "name of the dct:publisher agent"),
    "institution": ("str", "name of the institution from sources.yaml"),
    "licence_uri": ("str|null", "canonical licence URI (EU licence vocabulary or SPDX)"),
    "licence_label": ("str|null", "the licence as the source stated it"),
    "licence_open": ("bool|null", "Open Definition conformant; null when unknown"),
    "access_rights": ("str|null", "dct:accessRights URI"),
    "formats": ("list[str]", "EU file-type codes of the distributions (e.g. CSV)"),
    "media_types": ("list[str]", "IANA media types of the distributions"),
    "access_urls": ("list[str]", "dcat:accessURL of every distribution"),
    "download_urls": ("list[str]", "dcat:downloadURL of every distribution"),
    "distribution_count": ("int", "number of dcat:Distribution"),
    "offer": ("list[str]", "how the data is offered: download, api, visualisation, request-only"),
    "issued": ("str|null", "dct:issued, ISO 8601"),
    "modified": ("str|null", "dct:modified, ISO 8601"),
    "frequency": ("str|null", "dct:accrualPeriodicity EU frequency code (e.g. MONTHLY)"),
    "themes": ("list[str]", "EU data-theme codes"),
    "keywords": ("list[str]", "dcat:keyword"),
    "spatial": ("str|null", "dct:spatial as given (URI, bbox or label)"),
    "temporal_start": ("str|null", "start of dct:temporal"),
    "temporal_end": ("str|null", "end of dct:temporal"),
    "contact_name": ("str|null", "vcard:fn of dcat:contactPoint"),
    "contact_email": ("str|null", "vcard:hasEmail without mailto:"),
    "landing_page": ("str|null", "dcat:landingPage"),
}


def empty_row() -> dict[str, Any]:
    """A row with every column present: lists empty, the rest None."""
    return {name: ([] if typ.startswith("list") else 0 if typ == "int" else None)
            for name, (typ, _) in FLAT_COLUMNS.items()}
