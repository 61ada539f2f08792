"""The ``oai-pmh`` kind's mapping: pick the metadata format's mapping by the record's metadata namespace.

One source harvests one ``metadataPrefix``, but the raw record says what it holds, so a replayed
archive maps correctly whatever the source's options say today.
"""

from __future__ import annotations

from typing import Any

from transforms.base import Mapped, MappingError, SourceContext
from transforms.datacite import draft_of as datacite_draft, resource_of
from transforms.oai_build import build
from transforms.oai_common import read_record
from transforms.oai_dc import OAI_DC, draft_of as oai_dc_draft


def map_oai_record(record: Any, ctx: SourceContext) -> Mapped:
    """Map one OAI-PMH record (``oai_dc``, ``oai_datacite`` or bare ``datacite``) to DCAT-AP 3."""
    rec = read_record(record, ctx)
    if rec.deleted:
        raise MappingError("record is a deletion tombstone; it withdraws the dataset and has nothing to map",
                           source_id=ctx.source_id, native_id=rec.native_id, field="header/@status")
    if rec.metadata is not None and rec.metadata.tag == "{" + OAI_DC + "}dc":
        return build(oai_dc_draft(rec, ctx), ctx)
    if resource_of(rec.metadata) is not None:
        return build(datacite_draft(rec, ctx), ctx)
    found = rec.metadata.tag if rec.metadata is not None else "no metadata"
    raise MappingError(f"unsupported metadata format ({found}); citycat maps oai_dc, oai_datacite and datacite",
                       source_id=ctx.source_id, native_id=rec.native_id, field="metadata")
