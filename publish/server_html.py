"""The human-readable page of a dataset (``/dataset/...`` asked for by a browser).

Everything shown comes from harvested portals, i.e. untrusted text: Jinja2 autoescapes
every value, and a link is only made of a URL whose scheme is http(s), ftp or mailto
(a ``javascript:`` URL is escaped text all the same, but must not become an ``href``).
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_env.filters["safe_href"] = lambda url: url if isinstance(url, str) and url.lower().startswith(
    ("http://", "https://", "ftp://", "mailto:")) else None

_DATASET = _env.from_string("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} — {{ catalog_title }}</title>
{% for ext, media in alternates %}<link rel="alternate" type="{{ media }}" href="{{ self_url }}.{{ ext }}">
{% endfor %}<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}
dt{font-weight:600;margin-top:.6rem}dd{margin-left:1rem}code{word-break:break-all}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left}
</style>
</head>
<body>
<p><a href="{{ catalog_url }}">{{ catalog_title }}</a> › {{ source_title }}</p>
<h1>{{ title }}</h1>
{% if withdrawn_at %}<p role="alert"><strong>Withdrawn</strong> from the source on {{ withdrawn_at }}.</p>{% endif %}
{% if description %}<p>{{ description }}</p>{% endif %}
<dl>
<dt>Identifier</dt><dd><code>{{ uri }}</code></dd>
<dt>Publisher</dt><dd>{{ row.publisher or "not stated" }}</dd>
<dt>Institution</dt><dd>{{ row.institution or source_title }}</dd>
<dt>Licence</dt><dd>{% if row.licence_uri and row.licence_uri|safe_href %}<a href="{{ row.licence_uri }}">{{ row.licence_label or row.licence_uri }}</a>{% else %}{{ row.licence_label or "not stated" }}{% endif %}
{% if row.licence_open is sameas true %} (open){% elif row.licence_open is sameas false %} (not open){% endif %}</dd>
{% if row.landing_page and row.landing_page|safe_href %}<dt>Landing page</dt><dd><a href="{{ row.landing_page }}">{{ row.landing_page }}</a></dd>{% endif %}
{% if row.themes %}<dt>Themes</dt><dd>{{ row.themes|join(", ") }}</dd>{% endif %}
{% if row.keywords %}<dt>Keywords</dt><dd>{{ row.keywords|join(", ") }}</dd>{% endif %}
{% if row.frequency %}<dt>Update frequency</dt><dd>{{ row.frequency }}</dd>{% endif %}
{% if row.issued %}<dt>Issued</dt><dd>{{ row.issued }}</dd>{% endif %}
{% if row.modified %}<dt>Modified (at the source)</dt><dd>{{ row.modified }}</dd>{% endif %}
<dt>First seen / last changed in the inventory</dt><dd>{{ first_seen }} / {{ last_changed }}</dd>
{% if row.contact_name or row.contact_email %}<dt>Contact</dt><dd>{{ row.contact_name or "" }} {{ row.contact_email or "" }}</dd>{% endif %}
</dl>
{% if urls %}<h2>Distributions</h2>
<table><caption>{{ urls|length }} access or download URL(s)</caption>
<thead><tr><th scope="col">URL</th></tr></thead><tbody>
{% for u in urls %}<tr><td>{% if u|safe_href %}<a href="{{ u }}">{{ u }}</a>{% else %}{{ u }}{% endif %}</td></tr>
{% endfor %}</tbody></table>{% endif %}
<h2>Machine-readable</h2>
<ul>{% for ext, media in alternates %}<li><a href="{{ self_url }}.{{ ext }}">{{ media }}</a></li>{% endfor %}</ul>
</body>
</html>
""")


def dataset_html(*, row: dict[str, Any] | None, uri: str, self_url: str, catalog_url: str, catalog_title: str,
                 source_title: str, first_seen: str, last_changed: str, withdrawn_at: str | None,
                 alternates: list[tuple[str, str]]) -> str:
    row = dict(row or {})
    urls = list(dict.fromkeys([*(row.get("download_urls") or []), *(row.get("access_urls") or [])]))
    return _DATASET.render(row=row, title=row.get("title") or uri, description=row.get("description"), uri=uri,
                           self_url=self_url, catalog_url=catalog_url, catalog_title=catalog_title,
                           source_title=source_title, first_seen=first_seen, last_changed=last_changed,
                           withdrawn_at=withdrawn_at, alternates=alternates, urls=urls)
