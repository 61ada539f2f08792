"""transforms: pure functions from a raw record to DCAT-AP 3 triples + a flat row.

``MAPPINGS`` names the mapping function of each source kind as ``"module:function"`` and
:func:`get_mapping` imports it on first use, so importing :mod:`transforms` stays cheap and a
kind's vocabularies load only when that kind is mapped.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable

MAPPINGS: dict[str, str] = {"csw": "transforms.iso19139:map_csw_record",
                            "ckan": "transforms.ckan:map_package", "dcat-us": "transforms.dcat_us:map_dataset",
                            "dcat": "transforms.dcat:map_dataset",
                            "oai-pmh": "transforms.oai_pmh:map_oai_record",
                            "socrata": "transforms.socrata:map_asset", "opendatasoft": "transforms.opendatasoft:map_dataset",
                            "register": "transforms.register:map_register_row"}

_loaded: dict[str, Callable[..., Any]] = {}


def get_mapping(kind: str) -> Callable[..., Any]:
    """The ``map_*(record, ctx) -> Mapped`` function for a source kind; KeyError names the known kinds."""
    fn = _loaded.get(kind)
    if fn is None:
        try:
            target = MAPPINGS[kind]
        except KeyError:
            raise KeyError(f"no mapping for source kind {kind!r}; known: {', '.join(sorted(MAPPINGS))}") from None
        module, _, name = target.partition(":")
        fn = _loaded[kind] = getattr(import_module(module), name)
    return fn
