"""ISO 19115/19139 and INSPIRE code lists the CSW mapping needs, as facts with their source.

* INSPIRE spatial data themes (Directive 2007/2/EC Annexes I-III; registry http://inspire.ec.europa.eu/theme):
  English label → theme code.
* INSPIRE metadata code lists (http://inspire.ec.europa.eu/metadata-codelist/): ResponsibilityRole (the
  ISO CI_RoleCode values), TopicCategory (ISO MD_TopicCategoryCode), ResourceType (MD_ScopeCode).
* ISO MD_MaintenanceFrequencyCode → EU frequency codes (same meanings; "continual" = updated continuously).
* ISO 639-2/B bibliographic language codes (what ISO 19139 LanguageCode uses: ``dut``, ``ger``, ``fre``)
  → the 639-2/T codes the EU language table is keyed by.
"""

from __future__ import annotations

import re

from transforms import vocab

INSPIRE_THEMES = {
    "ad": "Addresses", "au": "Administrative units", "rs": "Coordinate reference systems",
    "gg": "Geographical grid systems", "cp": "Cadastral parcels", "gn": "Geographical names", "hy": "Hydrography",
    "ps": "Protected sites", "tn": "Transport networks", "el": "Elevation", "lc": "Land cover",
    "oi": "Orthoimagery", "ge": "Geology", "su": "Statistical units", "bu": "Buildings", "so": "Soil",
    "lu": "Land use", "hh": "Human health and safety", "us": "Utility and governmental services",
    "ef": "Environmental monitoring facilities", "pf": "Production and industrial facilities",
    "af": "Agricultural and aquaculture facilities", "pd": "Population distribution — demography",
    "am": "Area management/restriction/regulation zones and reporting units", "nz": "Natural risk zones",
    "ac": "Atmospheric conditions", "mf": "Meteorological geographical features",
    "of": "Oceanographic geographical features", "sr": "Sea regions", "br": "Bio-geographical regions",
    "hb": "Habitats and biotopes", "sd": "Species distribution", "er": "Energy resources",
    "mr": "Mineral resources",
}
INSPIRE_THEME_BASE = "http://inspire.ec.europa.eu/theme/"
CODELIST = "http://inspire.ec.europa.eu/metadata-codelist/"
ROLES = {"resourceProvider", "custodian", "owner", "user", "distributor", "originator", "pointOfContact",
         "principalInvestigator", "processor", "publisher", "author"}
TOPICS = {"farming", "biota", "boundaries", "climatologyMeteorologyAtmosphere", "economy", "elevation",
          "environment", "geoscientificInformation", "health", "imageryBaseMapsEarthCover",
          "intelligenceMilitary", "inlandWaters", "location", "oceans", "planningCadastre", "society",
          "structure", "transportation", "utilitiesCommunication"}
RESOURCE_TYPES = {"dataset", "series", "service"}
ISO_FREQUENCY = {"continual": "UPDATE_CONT", "daily": "DAILY", "weekly": "WEEKLY", "fortnightly": "BIWEEKLY",
                 "monthly": "MONTHLY", "quarterly": "QUARTERLY", "biannually": "ANNUAL_2", "annually": "ANNUAL",
                 "asNeeded": "AS_NEEDED", "irregular": "IRREG", "notPlanned": "NOT_PLANNED", "unknown": "UNKNOWN"}
_BIBLIOGRAPHIC = {"alb": "sqi", "arm": "hye", "baq": "eus", "bur": "mya", "chi": "zho", "cze": "ces", "dut": "nld",
                  "fre": "fra", "geo": "kat", "ger": "deu", "gre": "ell", "ice": "isl", "mac": "mkd", "mao": "mri",
                  "may": "msa", "per": "fas", "rum": "ron", "slo": "slk", "tib": "bod", "wel": "cym"}
_FOLD = re.compile(r"[^a-z]+")
_THEME_BY_LABEL = {_FOLD.sub("", label.lower()): code for code, label in INSPIRE_THEMES.items()}
_THEME_BY_LABEL[_FOLD.sub("", "population distribution demography")] = "pd"


def inspire_theme(label: str, href: str = "") -> tuple[str, str] | None:
    """(theme URI, English label) for an INSPIRE theme keyword given by its Anchor URI or English label."""
    m = re.search(r"inspire\.ec\.europa\.eu/theme/([a-z]{2})\b", href or "")
    code = m.group(1) if m else _THEME_BY_LABEL.get(_FOLD.sub("", (label or "").lower()))
    if code not in INSPIRE_THEMES:
        return None
    return INSPIRE_THEME_BASE + code, INSPIRE_THEMES[code]


def role_uri(role: str) -> str | None:
    return f"{CODELIST}ResponsibilityRole/{role}" if role in ROLES else None


def topic_uri(code: str) -> str | None:
    return f"{CODELIST}TopicCategory/{code}" if code in TOPICS else None


def resource_type_uri(code: str) -> str | None:
    return f"{CODELIST}ResourceType/{code}" if code in RESOURCE_TYPES else None


def language_uri(value: str) -> str | None:
    """EU language URI for ``eng``, ``dut`` (639-2/B), ``nl``, ``English``, ``eng; CAN``, ``en-GB``."""
    text = (value or "").strip()
    if not text:
        return None
    found = vocab.language(text)
    if found:
        return found
    head = re.split(r"[;,_\s-]", text, maxsplit=1)[0].lower()
    return vocab.language(_BIBLIOGRAPHIC.get(head, head))


_VIS = re.compile(r"\b(WMS|WMTS|TMS)\b|get-?map|ESRI:ArcGIS-MapServer|OGC:WMC", re.I)
_API = re.compile(r"\b(WFS|WCS|SOS|WPS|CSW|OPeNDAP|ESRI:REST|ArcGIS-FeatureServer)\b|OGC\s*API|"
                  r"get-?feature|get-?coverage", re.I)
_DOWNLOAD = re.compile(r"download|^FILE\b|\bFTP\b", re.I)
_PAGE = re.compile(r"^WWW:LINK", re.I)


def protocol_kind(protocol: str, function: str = "") -> str | None:
    """How an online resource is offered: visualisation, api, download, page; None = decide from the URL.

    Protocol strings are free text in practice (``OGC:WMS``, ``OGC:WMS-1.3.0-http-get-map``,
    ``WWW:DOWNLOAD-1.0-http--download``, ``GLG:KML-2.0-http-get-map``, ``ESRI:REST``); the function code
    (``download``, ``information``) breaks ties.
    """
    p = (protocol or "").strip()
    if p and _VIS.search(p):
        return "visualisation"
    if p and _API.search(p):
        return "api"
    if (p and _DOWNLOAD.search(p)) or function == "download":
        return "download"
    if (p and _PAGE.search(p)) or function in ("information", "search"):
        return "page"
    return None


__all__ = ["INSPIRE_THEMES", "ISO_FREQUENCY", "inspire_theme", "language_uri", "protocol_kind", "resource_type_uri",
           "role_uri", "topic_uri"]
