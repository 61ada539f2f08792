"""The ``csw`` kind's mapping: ISO 19139 (``gmd:MD_Metadata``, ``gmi:MI_Metadata``) or CSW Dublin Core
(``csw:Record``) → DCAT-AP 3 per GeoDCAT-AP.

The raw record says what it holds, so the mapping is picked by its root element, whatever the source's
``output_schema`` is today (a replayed archive maps correctly). :mod:`transforms.iso19139_read` and
:mod:`transforms.csw_dc` read, :mod:`transforms.iso19139_build` decides. ``FIELD_MAP`` (ISO) and
``transforms.csw_dc.FIELD_MAP`` are the contract rendered in docs/mapping-csw.md and checked by
tests/test_csw_mapping.py; field names are ISO element paths from ``MD_Metadata`` (identification
elements from ``identificationInfo/*``), as warnings name them.
"""

from __future__ import annotations

from typing import Any

from transforms.base import Mapped, MappingError, SourceContext
from transforms.csw_dc import ROOTS as DC_ROOTS, read_dc
from transforms.geo_draft import parse_payload
from transforms.iso19139_build import build
from transforms.iso19139_read import ROOTS as ISO_ROOTS, read_iso

# ISO 19139 element → property paths from the dataset node ("^p" = inverse step).
FIELD_MAP: dict[str, tuple[str, ...]] = {
    "fileIdentifier": ("^foaf:primaryTopic/dct:identifier",),
    "dateStamp": ("^foaf:primaryTopic/dct:modified", "dct:modified"),
    "language": ("^foaf:primaryTopic/dct:language",),
    "hierarchyLevel": ("dct:type",),
    "contact": ("dcat:contactPoint/vcard:fn",),
    "citation/title": ("dct:title",),
    "abstract": ("dct:description",),
    "citation/identifier": ("dct:identifier",),
    "citation/date[creation]": ("dct:created",),
    "citation/date[publication]": ("dct:issued",),
    "citation/date[revision]": ("dct:modified",),
    "pointOfContact[publisher]": ("dct:publisher/foaf:name",),
    "pointOfContact[pointOfContact]": ("dcat:contactPoint/vcard:fn",),
    "pointOfContact[owner]": ("dct:rightsHolder/foaf:name",),
    "pointOfContact[originator]": ("dct:creator/foaf:name",),
    "pointOfContact[author]": ("dct:creator/foaf:name",),
    "pointOfContact[custodian]": ("prov:qualifiedAttribution/prov:agent/foaf:name",
                                  "prov:qualifiedAttribution/dcat:hadRole"),
    "pointOfContact[other]": ("prov:qualifiedAttribution/prov:agent/foaf:name",),
    "descriptiveKeywords/keyword": ("dcat:keyword",),
    "descriptiveKeywords[INSPIRE themes]": ("dcat:keyword", "dcat:theme"),
    "topicCategory": ("dct:subject",),
    "identificationInfo/language": ("dct:language",),
    "extent/geographicBoundingBox": ("dct:spatial/dcat:bbox", "dct:spatial/locn:geometry"),
    "extent/geographicDescription": ("dct:spatial/skos:prefLabel",),
    "extent/description": ("dct:spatial/skos:prefLabel",),
    "extent/temporalExtent": ("dct:temporal",),
    "lineage/statement": ("dct:provenance/rdfs:label",),
    "useLimitation": ("dct:license",),
    "otherConstraints": ("dct:license",),
    "otherConstraints[access]": ("dct:accessRights",),
    "accessConstraints": ("dct:accessRights",),
    "maintenanceAndUpdateFrequency": ("dct:accrualPeriodicity",),
    "distributionInfo/onLine": ("dcat:distribution/dcat:accessURL",),
    "distributionFormat/name": ("dcat:distribution/dct:format",),
}


def map_csw_record(record: Any, ctx: SourceContext) -> Mapped:
    """Map one CSW record (ISO 19139 / 19139-2 or csw:Record Dublin Core) to DCAT-AP 3."""
    native, root = parse_payload(record, ctx)
    if root.tag in ISO_ROOTS:
        draft = read_iso(root, native)
        if draft.hierarchy == "service":
            raise MappingError("a service metadata record (hierarchyLevel=service) describes a dcat:DataService, "
                               "not a dataset; citycat's inventory holds datasets", source_id=ctx.source_id,
                               native_id=native, field="hierarchyLevel")
        return build(draft, ctx)
    if root.tag in DC_ROOTS:
        return build(read_dc(root, native), ctx)
    found = root.tag.rsplit("}", 1)[-1]
    raise MappingError(f"not ISO 19139: got {found} (citycat maps gmd:MD_Metadata, gmi:MI_Metadata and csw:Record)",
                       source_id=ctx.source_id, native_id=native, field="record")


__all__ = ["FIELD_MAP", "map_csw_record"]
