"""Spreadsheet information asset register harvester (``kind: register``, CSV or XLSX).

Many institutions publish no catalogue at all, only an "information asset register": a spreadsheet
listing what they hold, who owns it and whether it is published. Each register has its own column
names, so ``sources.yaml`` maps them (``columns: {title: "Asset name", owner: "Information Asset
Owner", ...}``); a configured column that is not in the file stops the run *before any record is
yielded*, naming the column, the file/sheet, the headers found and the closest one, because a renamed
column would otherwise silently empty a field across the whole inventory.

One file, no paging, no server-side filter: every run reads the whole register, so
``complete_listing`` is true once the last row was read, and incremental mode reads everything too
(there is no window to honour; ``cursor`` is None). The URL may be http(s) (through the shared
:class:`HttpClient`: size cap, retries, redirect rules) or a local ``file:`` URL / plain path (relative
paths are relative to the working directory of the run).

One raw record per non-blank row below ``header_row``. The payload keeps the row exactly as in the file
and says how to read it, so a replay of the raw archive needs nothing from today's config::

    {"row": {header: cell text, ...}, "columns": {field: header, ...}, "row_number": 7, "sheet": "IAR"}

``native_id`` is the identifier column's value, or, for a row without one, a **content id** that
survives re-harvests and re-ordering: ``iar-`` + the first 16 hex digits of SHA-256 of
``normalise(title) + "\\x1f" + normalise(owner)`` (NFKC, case-folded, whitespace collapsed). Two rows
with the same title and owner get the same content id: the later one becomes ``<id>-2`` (``-3``...) and
a warning line in the run's errors says so (that id depends on row order; an identifier column fixes it).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import logging
import unicodedata
import warnings
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Iterator, Literal
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harvesters.base import (FatalSourceError, HarvesterOptions, HarvestError, HarvestWindow, HttpOptions, Mode,
                             RawRecord, now_iso, register)
from harvesters.http import HttpHarvester

log = logging.getLogger("citycat.harvesters.asset_register")

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_DELIMITERS = (",", ";", "\t", "|")
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and encrypted .xlsx) container


class Columns(BaseModel):
    """Which header in the file holds each field; only ``title`` is required (docs/mapping-register.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, description="Header of the asset's name (dct:title).")
    description: str | None = Field(None, description="Header of the description (dct:description).")
    owner: str | None = Field(None, description="Header of the information asset owner (dct:publisher).")
    licence: str | None = Field(None, description="Header of the licence (dct:license).")
    format: str | None = Field(None, description="Header of the format(s), comma/semicolon-separated (dct:format).")
    frequency: str | None = Field(None, description="Header of the update frequency (dct:accrualPeriodicity).")
    contact: str | None = Field(None, description="Header of the contact e-mail or name (dcat:contactPoint).")
    identifier: str | None = Field(None, description="Header of the asset id; without one, ids come from content.")
    url: str | None = Field(None, description="Header of a link to the data or its web page.")
    access: str | None = Field(None, description="Header of an access/security classification (dct:accessRights).")
    modified: str | None = Field(None, description="Header of the date last updated/reviewed (dct:modified).")
    keywords: str | None = Field(None, description="Header of keywords, comma/semicolon-separated (dcat:keyword).")
    theme: str | None = Field(None, description="Header of a theme/category (dcat:theme when an EU data theme).")

    def configured(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}


def normalise_header(value: str) -> str:
    """Headers compare case-insensitively with whitespace collapsed (spreadsheets wrap and pad them)."""
    return " ".join(unicodedata.normalize("NFKC", value).split()).casefold()


def content_id(title: str, owner: str) -> str:
    """The stable id of a row without an identifier (see the module docstring)."""
    key = normalise_header(title) + "\x1f" + normalise_header(owner)
    return "iar-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def column_letter(index: int) -> str:
    """0-based column index → spreadsheet letters (0 → A, 27 → AB)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def cell_text(value: Any) -> str:
    """An XLSX cell as the text a CSV export of it would hold (whole numbers without ``.0``, ISO dates)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


@register
class RegisterHarvester(HttpHarvester):
    """Read one CSV or XLSX information asset register; one raw record per row."""

    kind = "register"
    not_resumable_because = "it reads one CSV/XLSX file: there is no page to resume at"
    cursor = None  # a register has no modification cursor: every run is a full listing
    paging = "none (one file)"
    url_schemes = ("http", "https", "file")

    class Options(HttpOptions):
        columns: Columns = Field(description="Column mapping: field → header as written in the file.")
        format: Literal["auto", "csv", "xlsx"] = Field("auto", description="auto = XLSX when the file is a zip "
                                                       "(or ends .xlsx), else CSV.")
        sheet: str | int | None = Field(None, description="XLSX sheet: its name, or its position (1 = first); "
                                                          "default the first sheet.")
        header_row: int = Field(1, ge=1, le=1000, description="Row number of the header (rows above it, such as "
                                                              "titles and merged headings, are ignored).")
        encoding: str | None = Field(None, description="CSV encoding; default: UTF-8 (with or without BOM, or "
                                                       "UTF-16 with BOM), falling back to cp1252 with a warning.")
        delimiter: str | None = Field(None, min_length=1, max_length=1, description="CSV delimiter; default: "
                                      "sniffed from the header row among , ; tab |.")
        timeout: float = Field(60, gt=0, le=900, description="Read timeout in seconds (http(s) only).")
        max_response_mb: int = Field(50, ge=1, le=1024, description="Largest accepted file, in MiB.")
        max_unzipped_mb: int = Field(200, ge=1, le=4096, description="Largest total uncompressed size of an "
                                                                     "XLSX, in MiB (refuses zip bombs).")

        @field_validator("encoding")
        @classmethod
        def _known_encoding(cls, value: str | None) -> str | None:
            if value is not None:
                try:
                    codecs.lookup(value)
                except LookupError:
                    raise ValueError(f"unknown encoding {value!r}; use e.g. utf-8, cp1252, latin-1") from None
            return value

    options: Options

    def __init__(self, source_id: str, url: str, options: HarvesterOptions, http: Any = None) -> None:
        super().__init__(source_id, url, options, http)
        self.notes: list[str] = []  # file-level warnings (encoding fallback, duplicates); also in stats.errors
        self.blank_rows = 0
        self.content_ids = 0  # rows identified by content rather than an identifier column

    # -- fetching -----------------------------------------------------------------------

    def fetch(self) -> tuple[bytes, str]:
        """(file bytes, media type the server stated or ``""``) from the URL or local path."""
        parts = urlsplit(self.url)
        if parts.scheme in ("http", "https"):
            try:
                resp = self.client.request("GET", self.url, headers={
                    "Accept": f"text/csv, {XLSX_TYPE}, application/octet-stream;q=0.8, */*;q=0.5"})
            finally:
                self.count_requests()
            if resp.status_code >= 400:
                raise self.error(FatalSourceError, f"{self.url} answered HTTP {resp.status_code}")
            return resp.content, resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        path = Path(url2pathname(unquote(parts.path))) if parts.scheme == "file" else Path(self.url)
        cap = self.options.max_response_mb * 1024 * 1024
        try:
            size = path.stat().st_size
            if size > cap:
                raise self.error(FatalSourceError, f"{path} is {size} bytes, more than max_response_mb="
                                                   f"{self.options.max_response_mb}")
            return path.read_bytes(), ""
        except OSError as exc:
            raise self.error(FatalSourceError, f"cannot read register file {path.resolve()}: "
                                               f"{exc.strerror or type(exc).__name__}") from None

    # -- the run ------------------------------------------------------------------------

    def records(self, window: HarvestWindow, mode: Mode) -> Iterator[RawRecord]:
        """Every row, whatever the window (see the module docstring); nothing before the header checks out."""
        self.bounds(window, mode)  # refuses replay; the window itself is not used (see the module docstring)
        data, ctype = self.fetch()
        self.stats.pages = 1
        is_xlsx = self._is_xlsx(data, ctype)
        grid, sheet = self._xlsx_grid(data) if is_xlsx else (self._csv_grid(data), None)
        where = f"sheet {sheet!r} of {self.url}" if sheet is not None else self.url
        names, rows = self._table(grid, where)
        columns = self._resolve(names, where)
        fetched_at = now_iso()
        seen: dict[str, int] = {}
        for number, cells in rows:
            record = self._record(number, dict(zip(names, cells)), columns, sheet, fetched_at, seen)
            if record is not None:
                yield record
        self.stats.complete_listing = True

    def _is_xlsx(self, data: bytes, ctype: str) -> bool:
        fmt = self.options.format
        if data.startswith(_OLE2):
            raise self.error(FatalSourceError, f"{self.url} is a legacy Excel 97-2003 (.xls) or password-protected "
                                               "workbook; save it as .xlsx or .csv")
        if fmt == "auto":
            head = data[:512].lstrip().lower()
            if head.startswith((b"<!doctype html", b"<html")) or (ctype == "text/html" and head.startswith(b"<")):
                raise self.error(FatalSourceError, f"{self.url} answered with an HTML page, not a CSV or XLSX file: "
                                                   "is the URL the file's download link?")
            return data.startswith(b"PK\x03\x04") or ctype == XLSX_TYPE or self.url.lower().endswith(".xlsx")
        return fmt == "xlsx"

    # -- CSV ----------------------------------------------------------------------------

    def _note(self, message: str) -> None:
        line = str(HarvestError(f"warning: {message}", source_id=self.source_id))
        self.notes.append(line)
        self.stats.errors.append(line)
        log.warning("%s", line)

    def decode(self, data: bytes) -> str:
        """The CSV's text: the configured encoding, else UTF-8 (BOM or not) / UTF-16 (BOM), else cp1252."""
        enc = self.options.encoding
        if enc is None and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            enc = "utf-16"  # Excel's "Unicode text" export
        try:
            if enc is not None:
                text = data.decode("utf-8-sig" if codecs.lookup(enc).name == "utf-8" else enc)
                return text[1:] if text.startswith("\ufeff") else text
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            if enc is not None:
                raise self.error(FatalSourceError, f"{self.url} is not valid {enc} (byte {exc.start}: "
                                                   f"{data[exc.start:exc.start + 4]!r}); fix the encoding option",
                                 field="encoding") from None
            bad = exc.start
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise self.error(FatalSourceError, f"{self.url} is neither UTF-8 (byte {bad}) nor Windows-1252 (byte "
                                               f"{exc.start}); set the encoding option", field="encoding") from None
        self._note(f"{self.url} is not UTF-8 (first invalid byte at offset {bad}); read as Windows-1252 (cp1252). "
                   "Set 'encoding' in sources.yaml to confirm or to choose another encoding")
        return text

    def sniff_delimiter(self, text: str) -> str:
        """The candidate that splits the header row into the most cells with letters or digits (ties: comma)."""
        hr = self.options.header_row
        sample = "\n".join(text.splitlines()[: hr + 5])
        best, best_n = ",", 0
        for d in _DELIMITERS:
            rows = list(csv.reader(io.StringIO(sample, newline=""), delimiter=d))
            n = sum(1 for c in rows[hr - 1] if any(ch.isalnum() for ch in c)) if len(rows) >= hr else 0
            if n > best_n:
                best, best_n = d, n
        return best

    def _csv_grid(self, data: bytes) -> list[list[str]]:
        text = self.decode(data)
        delimiter = self.options.delimiter or self.sniff_delimiter(text)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            return [row for row in reader]
        except csv.Error as exc:
            raise self.error(FatalSourceError, f"{self.url} is not readable as CSV (row {reader.line_num}: {exc})"
                             ) from None

    # -- XLSX ---------------------------------------------------------------------------

    def _check_zip(self, data: bytes) -> None:
        """Refuse a zip bomb before openpyxl inflates it: the members' declared sizes are capped."""
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                total = sum(i.file_size for i in zf.infolist())
        except zipfile.BadZipFile as exc:
            raise self.error(FatalSourceError, f"{self.url} is not a readable XLSX (zip) file: {exc}; a cut-off "
                                               "download looks like this") from None
        cap = self.options.max_unzipped_mb * 1024 * 1024
        if total > cap:
            raise self.error(FatalSourceError, f"{self.url} would unzip to {total} bytes, more than max_unzipped_mb="
                                               f"{self.options.max_unzipped_mb}; refused (possible zip bomb)")

    def _xlsx_grid(self, data: bytes) -> tuple[list[list[str]], str]:
        import openpyxl
        from defusedxml import DefusedXmlException

        if not openpyxl.DEFUSEDXML:  # openpyxl only defuses its XML parsing when defusedxml is importable
            raise self.error(FatalSourceError, "openpyxl is not using defusedxml (OPENPYXL_DEFUSEDXML is off or "
                                               "defusedxml is missing); refusing to parse XLSX unsafely")
        self._check_zip(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "no default style", unsupported extensions: not our concern
                wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
                try:
                    ws = self._sheet(wb)
                    grid = [[cell_text(v) for v in row] for row in ws.iter_rows(min_row=1, values_only=True)]
                    return grid, ws.title
                finally:
                    wb.close()
        except HarvestError:
            raise
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many unrelated types for a broken workbook
            cause: BaseException | None = exc
            while cause is not None and not isinstance(cause, DefusedXmlException):
                cause = cause.__cause__ or cause.__context__  # openpyxl wraps parser errors in ValueError
            if cause is not None:
                raise self.error(FatalSourceError, f"{self.url} contains XML with entity or DTD declarations "
                                                   f"({type(cause).__name__}); refused as a possible XML bomb or "
                                                   "external-entity attack") from None
            first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
            raise self.error(FatalSourceError, f"{self.url} is not a readable XLSX workbook "
                                               f"({type(exc).__name__}: {first_line})") from None

    def _sheet(self, wb: Any) -> Any:
        wanted = self.options.sheet
        names = wb.sheetnames
        if wanted is None:
            return wb[names[0]]
        if isinstance(wanted, int):
            if 1 <= wanted <= len(names):
                return wb[names[wanted - 1]]
            raise self.error(FatalSourceError, f"sheet {wanted} asked for but {self.url} has {len(names)} sheet(s): "
                                               f"{', '.join(map(repr, names))}", field="sheet")
        if wanted in names:
            return wb[wanted]
        guess = difflib.get_close_matches(wanted, names, n=1, cutoff=0.5)
        raise self.error(FatalSourceError, f"no sheet {wanted!r} in {self.url}; sheets: {', '.join(map(repr, names))}"
                         + (f"; closest: {guess[0]!r}" if guess else ""), field="sheet")

    # -- header and rows ----------------------------------------------------------------

    def _table(self, grid: list[list[str]], where: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
        """(header names, [(row number, cells)]) with blank rows and empty unnamed columns dropped."""
        hr = self.options.header_row
        if len(grid) < hr or not any(c.strip() for c in grid[hr - 1]):
            what = f"row {hr} is empty" if len(grid) >= hr else f"it has only {len(grid)} rows"
            raise self.error(FatalSourceError, f"header_row is {hr} but in {where} {what}; set header_row to the "
                                               "row holding the column names", field="header_row")
        header = [c.strip() for c in grid[hr - 1]]
        body: list[tuple[int, list[str]]] = []
        for i, row in enumerate(grid[hr:], start=hr + 1):
            if any(c.strip() for c in row):
                body.append((i, row))
            else:
                self.blank_rows += 1
        width = max([len(header)] + [len(r) for _, r in body])
        keep = [j for j in range(width) if (j < len(header) and header[j])
                or any(j < len(r) and r[j].strip() for _, r in body)]
        names: list[str] = []
        for j in keep:
            name = header[j] if j < len(header) and header[j] else f"(column {column_letter(j)})"
            names.append(f"{name} ({column_letter(j)})" if name in names else name)
        rows = [(n, [r[j] if j < len(r) else "" for j in keep]) for n, r in body]
        return names, rows

    def _resolve(self, names: list[str], where: str) -> dict[str, str]:
        """field → header as in the file; every configured column missing is one FatalSourceError."""
        by_norm: dict[str, str] = {}
        for n in names:
            by_norm.setdefault(normalise_header(n), n)
        found: dict[str, str] = {}
        problems: list[str] = []
        missing: list[str] = []
        for field, header in self.options.columns.configured().items():
            actual = header if header in names else by_norm.get(normalise_header(header))
            if actual is not None:
                found[field] = actual
                continue
            guess = difflib.get_close_matches(normalise_header(header), list(by_norm), n=1, cutoff=0.5)
            missing.append(field)
            problems.append(f"columns.{field} = {header!r}" + (f" (closest: {by_norm[guess[0]]!r})" if guess
                                                                else " (no close match)"))
        if problems:
            raise self.error(FatalSourceError, f"configured column(s) not found in {where} (header row "
                             f"{self.options.header_row}): {'; '.join(problems)}. Columns found: "
                             f"{', '.join(map(repr, names))}. Fix the column names in sources.yaml, or header_row "
                             "if the header is on another row", field=f"columns.{missing[0]}")
        return found

    def _record(self, number: int, row: dict[str, str], columns: dict[str, str], sheet: str | None,
                fetched_at: str, seen: dict[str, int]) -> RawRecord | None:
        def cell(field: str) -> str:
            return row.get(columns[field], "").strip() if field in columns else ""

        title, owner = cell("title"), cell("owner")
        native_id = cell("identifier")
        if native_id:
            if native_id in seen:
                self.report(f"row {number}: identifier already used by row {seen[native_id]}; the first row was "
                            "kept", native_id=native_id, field=columns["identifier"], reason="duplicate identifier")
                return None
        elif title:
            native_id = base = content_id(title, owner)
            self.content_ids += 1
            n = 1
            while native_id in seen:
                n += 1
                native_id = f"{base}-{n}"
            if n > 1:
                self._note(f"row {number} has the same title and owner as row {seen[base]} ({title[:80]!r} / "
                           f"{owner[:80]!r}): kept as {native_id}, an id that depends on row order; give the "
                           "register an identifier column (columns.identifier) to make it stable")
        else:
            self.report(f"row {number}: neither a title nor an identifier", field=columns["title"], reason="no title")
            return None
        seen[native_id] = number
        payload = {"row": row, "columns": columns, "row_number": number, "sheet": sheet}
        return RawRecord(source_id=self.source_id, native_id=native_id, fetched_at=fetched_at,
                         media_type="application/json", payload=payload,
                         source_modified=_iso_or_none(cell("modified")))


def _iso_or_none(value: str) -> str | None:
    """The cell when it is an ISO 8601 date/time (the loader stores it as a timestamp), else None."""
    if not value:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value
