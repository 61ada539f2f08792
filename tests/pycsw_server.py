"""A real pycsw 2.6.2 CSW server on 127.0.0.1 for the CSW tests, run from its own virtualenv.

pycsw needs SQLAlchemy < 2, so it cannot be imported here; ``scripts/pycsw-venv.sh`` builds a separate,
cached venv and this module drives it with subprocesses: ``pycsw-admin.py setup_db`` and
``load_records`` fill a SQLite repository from a directory of records, then ``waitress-serve`` serves
``pycsw.wsgi:application`` on a free loopback port. gzip stays off (no ``gzip_compresslevel``): pycsw
mis-states Content-Length when it compresses. ``maxrecords=10`` is pycsw's usual page cap, which the
harvester must page over. OAI-PMH comes with it at ``?mode=oaipmh``.

Tests that need it skip, naming the command, when the venv is missing.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
import requests

from helpers import free_port

DEFAULT_VENV = Path.home() / ".cache" / "citycat" / "pycsw-venv"
ROOT = Path(__file__).resolve().parent.parent
CREATE_CMD = "bash scripts/pycsw-venv.sh"

_CONFIG = """\
[server]
home={home}
url={url}
mimetype=application/xml; charset=UTF-8
encoding=UTF-8
language=en-US
maxrecords={maxrecords}
loglevel=WARNING
logfile={home}/pycsw.log
pretty_print=false
domainquerytype=list
domaincounts=false
profiles=apiso

[manager]
transactions=false
allowed_ips=127.0.0.1

[metadata:main]
identification_title=citycat test catalogue
identification_abstract=pycsw serving recorded real records for the citycat tests
identification_keywords=citycat,test
identification_keywords_type=theme
identification_fees=None
identification_accessconstraints=None
provider_name=citycat tests
provider_url=http://127.0.0.1/
contact_name=citycat tests
contact_email=tests@example.org

[repository]
database=sqlite:///{home}/records.db
table=records

[metadata:inspire]
enabled=false
"""


def venv_path() -> Path:
    return Path(os.environ.get("CITYCAT_PYCSW_VENV") or DEFAULT_VENV)


def missing_reason() -> str | None:
    """Why pycsw cannot run here (None when it can)."""
    venv = venv_path()
    for exe in ("python", "pycsw-admin.py", "waitress-serve"):
        if not (venv / "bin" / exe).exists():
            return (f"pycsw venv not found at {venv} (no bin/{exe}); create it with `{CREATE_CMD}` "
                    f"(set CITYCAT_PYCSW_VENV to use another path)")
    return None


@dataclass
class PycswServer:
    """A running pycsw; ``url`` is the CSW endpoint, ``loaded`` the ids pycsw reported inserting."""

    url: str
    home: Path
    process: subprocess.Popen
    log: Path
    requests: list[str] = field(default_factory=list)

    @property
    def oai_url(self) -> str:
        return self.url + "?mode=oaipmh"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _admin(venv: Path, command: str, cfg: Path, *extra: str) -> None:
    args = [str(venv / "bin" / "python"), str(venv / "bin" / "pycsw-admin.py"), "-c", command, "-f", str(cfg), *extra]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"pycsw-admin {command} failed ({done.returncode}): {done.stderr[-2000:]}")


def start_pycsw(records: Path, home: Path, *, maxrecords: int = 10, timeout: float = 60) -> PycswServer:
    """Load ``records`` (a directory of XML records) into a fresh repository under ``home`` and serve it."""
    reason = missing_reason()
    if reason:
        raise RuntimeError(reason)
    venv = venv_path()
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/csw"
    cfg = home / "pycsw.cfg"
    cfg.write_text(_CONFIG.format(home=home, url=url, maxrecords=maxrecords), encoding="utf-8")
    _admin(venv, "setup_db", cfg)
    _admin(venv, "load_records", cfg, "-p", str(records))
    log = home / "waitress.log"
    env = {**os.environ, "PYCSW_CONFIG": str(cfg), "PYTHONWARNINGS": "ignore"}
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(venv / "bin" / "waitress-serve"), "--host=127.0.0.1", f"--port={port}",
                                 "--threads=4", "pycsw.wsgi:application"], stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=home)
    server = PycswServer(url=url, home=home, process=proc, log=log)
    deadline = time.monotonic() + timeout
    caps = {"service": "CSW", "version": "2.0.2", "request": "GetCapabilities"}
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"pycsw exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            resp = requests.get(url, params=caps, timeout=2)
            if resp.status_code == 200 and b"Capabilities" in resp.content[:2000]:
                return server
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"pycsw did not answer GetCapabilities within {timeout} s at {url}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def pycsw_iso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PycswServer]:
    """pycsw serving tests/data/csw/pycsw (20 real ISO 19139 / 19139-2 records; more than its 10-record page cap)."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = start_pycsw(ROOT / "tests" / "data" / "csw" / "pycsw", tmp_path_factory.mktemp("pycsw"))
    try:
        yield server
    finally:
        server.stop()
