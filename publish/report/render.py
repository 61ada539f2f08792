"""Render the report model into one self-contained HTML file (Jinja2, autoescaped).

The Vega, Vega-Lite and Vega-Embed libraries are inlined once (``vl_convert``'s bundle), and
each chart's spec sits in a ``<script type="application/json">`` block written with Jinja's
``tojson`` (which escapes ``<``, ``>`` and ``&``), so harvested text can neither close a script
element nor run as code; everything else goes through autoescape. No URL is ever fetched:
the file works opened from disk, offline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent / "templates"


_BUNDLE_SCRIPT = """
import sys, vl_convert
versions = vl_convert.get_vegalite_versions()
want = sys.argv[1]
sys.stdout.write(vl_convert.javascript_bundle(vl_version=want if want in versions else versions[-1]))
"""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "citycat"


@lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega + Vega-Lite + Vega-Embed as one script (~0.9 MB), built by vl_convert.

    vl_convert builds it in an embedded V8, which stays in the process afterwards (~100 MB):
    so it runs in a child process, once per vl-convert and Vega-Lite version, and the result
    is cached under ``$XDG_CACHE_HOME/citycat`` (a report build then reads a file).
    """
    import altair as alt
    from importlib.metadata import version

    vl = ".".join(alt.VEGALITE_VERSION.split(".")[:2])
    cached = _cache_dir() / f"vega-bundle-vlc{version('vl-convert-python')}-vl{vl}.js"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", _BUNDLE_SCRIPT, vl], capture_output=True, timeout=300,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError("vl_convert.javascript_bundle failed: " + done.stderr.decode("utf-8", "replace")[-2000:])
    bundle = done.stdout.decode("utf-8")
    if "</script" in bundle.lower():  # would end the inline script early
        raise RuntimeError("the vl_convert JavaScript bundle contains '</script'; it cannot be inlined")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(bundle, cached)
    except OSError:  # a read-only home: build it again next time
        pass
    return bundle


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    return env


def render(model: dict[str, Any]) -> str:
    template = environment().get_template("report.html.j2")
    return template.render(model=model, vega_bundle=vega_bundle())


def write_atomic(html: str, path: Path) -> Path:
    """Write via a temp file and rename, so the feed service never serves half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
