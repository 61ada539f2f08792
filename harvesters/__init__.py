"""Protocol adapters: one module per protocol, each registering its kind (see base.py)."""

from harvesters.base import (ApiKeyOptions, EnvVarName, FatalSourceError, Harvester, HarvesterOptions, HarvestError,
                             HarvestStats, HarvestWindow, HttpOptions, RawRecord, RetriableError, SkippableRecordError,
                             get, register, registry)

__all__ = ["ApiKeyOptions", "EnvVarName", "FatalSourceError", "Harvester", "HarvesterOptions", "HarvestError",
           "HarvestStats", "HarvestWindow", "HttpOptions", "RawRecord", "RetriableError", "SkippableRecordError", "get",
           "register", "registry"]


def load_builtin() -> None:
    """Import the built-in protocol modules so they register their kinds."""
    from harvesters import ckan  # noqa: F401
    from harvesters import dcat  # noqa: F401
    from harvesters import dcat_us  # noqa: F401
    from harvesters import oai_pmh  # noqa: F401
    from harvesters import csw  # noqa: F401
    from harvesters import socrata, opendatasoft  # noqa: F401
    from harvesters import asset_register  # noqa: F401  (kind "register")
