"""CKAN Action API harvester (``kind: ckan``).

Lists packages with ``package_search`` sorted by ``metadata_modified asc, id asc`` and paged
by ``start`` offset, so a window is a contiguous slice of the portal's modification history
and a page that repeats is recognisable as a loop. Where search is missing, disabled or
broken it falls back to ``package_list`` + ``package_show`` (slow: one request per package).

Incremental windows: :class:`HarvestWindow` is half-open ``[start, end)`` but Solr ranges in
``fq`` are written with inclusive bounds here (``[a TO b]``), because the mixed-bracket form
``[a TO b}`` is not understood by the old Solr versions some portals still run. The bounds are
widened to whole seconds (start floored, end ceiled) and every record is then re-checked
client-side against its own microsecond ``metadata_modified``: records at or after ``end``,
or before ``start``, are dropped and counted as ``skipped["outside window"]`` (they belong to
the neighbouring window).
"""

from __future__ import annotations

import ast
import json
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import ckanapi
from ckanapi.common import prepare_action, reverse_apicontroller_action
from ckanapi.errors import CKANAPIError, ServerIncompatibleError
from pydantic import Field

from harvesters.base import (ApiKeyOptions, FatalSourceError, HarvesterOptions, HarvestError, HarvestWindow, Mode,
                             RawRecord, SkippableRecordError, now_iso, parse_utc, register)
from harvesters.decode import loads
from harvesters.http import HttpHarvester, HttpStatusError, UnexpectedContentError
from harvesters.paging import OffsetPaginator

log = logging.getLogger("citycat.harvesters.ckan")

SORT = "metadata_modified asc, id asc"
_API_SUFFIX = re.compile(r"/api(?:/3)?(?:/action)?/?$")
# Answers from package_search that mean "search is unavailable here", not "the portal is down".
_FALLBACK_STATUSES = frozenset({400, 403, 404, 405, 409, 501})


class CkanActionError(FatalSourceError):
    """A CKAN action answered with an error; ``status`` is the HTTP status it came with."""

    def __init__(self, message: str, *, status: int | None, **where: Any) -> None:
        self.status = status
        super().__init__(message, **where)


def parse_ckan_time(value: Any) -> datetime | None:
    """CKAN/Solr timestamp → aware UTC datetime (naive values are UTC, as CKAN stores them)."""
    return parse_utc(value)


def solr_window(window: HarvestWindow) -> str:
    """``metadata_modified:[a TO b]`` covering ``window`` in whole seconds (see module doc)."""
    def fmt(when: datetime | None, ceil: bool) -> str:
        if when is None:
            return "*"
        when = when.astimezone(timezone.utc)
        if ceil and when.microsecond:
            when += timedelta(seconds=1)
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"metadata_modified:[{fmt(window.start, False)} TO {fmt(window.end, True)}]"


class _RemoteCKAN(ckanapi.RemoteCKAN):
    """ckanapi's ``RemoteCKAN`` with the successful answer decoded from the body's bytes.

    ckanapi decodes every answer as ``json.loads(response.text)``: for a 1,000-package
    ``package_search`` page (~4.5 MB) that is a str copy plus the json module, ~70 µs a package. Here the
    request is prepared by ckanapi exactly as before (``prepare_action``: POST, JSON body); a UTF-8 answer
    whose envelope says ``success`` is decoded by msgspec (:func:`harvesters.decode.loads`); anything
    else (errors, other charsets, bodies msgspec refuses) goes through ckanapi's own
    ``reverse_apicontroller_action``, so errors and odd bodies are read as ckanapi reads them.
    ``last_strict`` says whether the last result came from a strict JSON decode.
    """

    last_strict = False

    def call_action(self, action, data_dict=None, context=None, apikey=None, files=None,  # type: ignore[override]
                    requests_kwargs=None):
        if context or files or self.get_only:
            self.last_strict = False
            return super().call_action(action, data_dict, context, apikey, files, requests_kwargs)
        url, data, headers = prepare_action(action, data_dict, apikey or self.apikey, files, base_url=self.base_url)
        headers["User-Agent"] = self.user_agent
        url = self.address.rstrip("/") + "/" + url
        requests_kwargs = dict(requests_kwargs or {})
        requests_kwargs.setdefault("timeout", ckanapi.remoteckan.REQUEST_TIMEOUT)
        r = self.session.post(url, data=data, headers=headers, allow_redirects=False, **requests_kwargs)
        self.last_strict = False
        if (r.encoding or "").lower() in ("utf-8", "utf8"):
            try:
                parsed, strict = loads(r.content)
            except ValueError:
                parsed, strict = None, False
            if isinstance(parsed, dict) and parsed.get("success") and "result" in parsed:
                self.last_strict = strict
                return parsed["result"]
        return reverse_apicontroller_action(url, r.status_code, r.text)


@register
class CkanHarvester(HttpHarvester):
    """Harvest a CKAN portal through its Action API (v3) with ``ckanapi``."""

    kind = "ckan"
    cursor = "metadata_modified"
    paging = "offset"
    api_key_option = "api_key_env"
    resumable = True  # offset position + which listing (search or list) the run was on

    class Options(ApiKeyOptions):
        organization: str | list[str] | None = Field(
            None, description="CKAN organisation name(s) to harvest; omitted = the whole portal. "
                              "Becomes fq organization:<name> (several are OR-ed).")
        fq: str | None = Field(None, description="Extra Solr filter query AND-ed to the search, e.g. "
                                                 "'res_format:CSV'. Ignored by the package_list fallback.")
        rows: int = Field(1000, ge=1, le=1000, description="Page size for package_search/package_list "
                                                           "(CKAN caps it at 1000 by default).")
        use_search: bool = Field(True, description="false = skip package_search and use package_list + "
                                                   "package_show (for portals whose search is broken).")
        requests_per_second: float = Field(5, gt=0, le=100, description="Politeness limit for this "
                                                                        "portal's host, shared process-wide.")
        timeout: float = Field(30, gt=0, le=600, description="Read timeout per request, in seconds.")
        include_types: list[str] = Field(["dataset"], min_length=1, description="CKAN package types to "
                                         "harvest; others (harvest sources, showcases) are skipped and counted.")

    options: Options

    def __init__(self, source_id: str, url: str, options: HarvesterOptions, http: Any = None) -> None:
        super().__init__(source_id, url, options, http)
        self.address = _API_SUFFIX.sub("", url.rstrip("/"))
        self.fallback_reason: str | None = None
        self._ckan: ckanapi.RemoteCKAN | None = None
        self._idless = 0

    # -- plumbing ----------------------------------------------------------------------

    @property
    def ckan(self) -> ckanapi.RemoteCKAN:
        """ckanapi on the shared client (a Session), so its requests get our retries, caps and key rules."""
        if self._ckan is None:
            self._ckan = _RemoteCKAN(self.address, user_agent=self.client.config.user_agent,
                                            session=self.client)
            self._ckan.base_url = "api/3/action/"
        return self._ckan

    def _action(self, action: str, data: dict[str, Any], native_id: str | None = None) -> Any:
        client = self.client
        url = f"{self.address}/api/3/action/{action}"
        timeout = (client.config.connect_timeout, client.config.read_timeout)
        try:
            return self.ckan.call_action(action, data, requests_kwargs={"timeout": timeout, "expect_json": True})
        except HarvestError:
            raise
        except ckanapi.NotFound as exc:
            message, status = f"{url}: not found ({exc})", 404
        except ckanapi.NotAuthorized as exc:
            message, status = f"{url}: not authorised ({exc}); check the API key in api_key_env", 403
        except (ckanapi.ValidationError, ckanapi.SearchQueryError, ckanapi.SearchError,
                ckanapi.SearchIndexError) as exc:
            message, status = f"{url}: {type(exc).__name__} ({exc})", 409
        except ServerIncompatibleError:
            raise self.error(FatalSourceError, f"{url} does not speak the CKAN Action API") from None
        except CKANAPIError as exc:
            message, status = _describe_raw_error(url, exc)
            if status == 200:
                raise UnexpectedContentError(client.redact(message), source_id=self.source_id,
                                             native_id=native_id) from None
        message = client.redact(message)[:600]
        raise CkanActionError(message, status=status, source_id=self.source_id, native_id=native_id)

    # -- the harvest -------------------------------------------------------------------

    def records(self, window: HarvestWindow, mode: Mode) -> Iterator[RawRecord]:
        bounds = self.bounds(window, mode)
        try:
            if (self.resume_position or {}).get("via") == "list":  # the run had fallen back already
                self.fallback_reason = self.resume_position.get("fallback_reason")  # type: ignore[union-attr]
                yield from self._via_list(bounds, mode)
                return
            if self.options.use_search:
                try:
                    yield from self._via_search(bounds, mode)
                    return
                except _SearchUnavailable as exc:
                    self.fallback_reason = str(exc)
                    log.warning("%s: package_search unusable (%s); falling back to package_list + package_show",
                                self.source_id, exc)
            else:
                self.fallback_reason = "use_search is false"
            yield from self._via_list(bounds, mode)
        finally:
            self.count_requests()

    def _filter_query(self, bounds: HarvestWindow | None) -> str:
        parts = []
        if self.options.fq:
            parts.append(f"({self.options.fq})" if " OR " in self.options.fq else self.options.fq)
        org = self.options.organization
        if org:
            parts.append(f"organization:{org}" if isinstance(org, str) else f"organization:({' OR '.join(org)})")
        if bounds is not None:
            parts.append(solr_window(bounds))
        return " AND ".join(parts)

    def _resumed(self, via: str, pager: OffsetPaginator) -> tuple[set[str], int, dict]:
        """(seen ids, listed-but-not-archived count, position) to start a listing with, from a checkpoint."""
        pos = self.resume_position if (self.resume_position or {}).get("via") == via else None
        if pos is None:
            return set(), 0, {}
        pager.restore(pos["pager"])
        self._idless = int(pos["idless"])
        seen = set(self.resumed_ids)
        return seen, int(pos["listed"]) - len(seen) - self._idless, pos

    def _via_search(self, bounds: HarvestWindow | None, mode: Mode) -> Iterator[RawRecord]:
        pager = OffsetPaginator(self.options.rows, source_id=self.source_id)
        seen, unarchived, _ = self._resumed("search", pager)
        fq = self._filter_query(bounds)
        for req in pager:
            data = {"q": "*:*", "fq": fq, "rows": req.limit, "start": req.offset, "sort": SORT}
            try:
                result = self._action("package_search", data)
            except (CkanActionError, HttpStatusError) as exc:
                status = getattr(exc, "status", None)
                if req.number == 1 and (isinstance(exc, HttpStatusError) or status in _FALLBACK_STATUSES):
                    raise _SearchUnavailable(exc.reason) from exc
                raise
            if not isinstance(result, dict) or not isinstance(result.get("results"), list):
                raise self.error(FatalSourceError, f"package_search at {self.address} answered without a "
                                                   f"'results' list (got {type(result).__name__})")
            results = result["results"]
            strict = self.ckan.last_strict
            count = result.get("count") if isinstance(result.get("count"), int) else None
            pager.feed([str(p.get("id")) if isinstance(p, dict) else repr(p)[:80] for p in results], total=count)
            self.stats.pages += 1
            fetched_at = now_iso()
            for pkg in results:
                record = self._record(pkg, fetched_at, bounds, seen, where=f"package_search start={req.offset}")
                if record is not None:
                    if strict:
                        record.strict_json = True  # type: ignore[misc]  # see RawRecord.strict_json
                    yield record
            self.page_done({"via": "search", "pager": pager.state(), "idless": self._idless,
                            "listed": len(seen) + self._idless + unarchived})
        if mode == "full":
            self.stats.complete_listing = self.fully_listed(pager.done, len(seen) + self._idless + unarchived,
                                                            pager.total, "packages")

    def _via_list(self, bounds: HarvestWindow | None, mode: Mode) -> Iterator[RawRecord]:
        rows = self.options.rows
        pager = OffsetPaginator(rows, source_id=self.source_id, stop_on_short_page=False)
        seen, unarchived, pos = self._resumed("list", pager)
        failed = int(pos.get("failed", 0))
        for req in pager:
            names = self._action("package_list", {"limit": req.limit, "offset": req.offset})
            if not isinstance(names, list):
                raise self.error(FatalSourceError, f"package_list at {self.address} did not answer a list")
            # A portal that ignores limit returns everything at once; one that caps it below
            # ``rows`` returns short pages, so only an empty page ends the listing.
            pager.feed([str(n) for n in names], total=len(names) if len(names) > rows else None)
            self.stats.pages += 1
            for name in names:
                try:
                    pkg = self._show(str(name))
                except (CkanActionError, SkippableRecordError) as exc:
                    if isinstance(exc, CkanActionError) and exc.status not in (403, 404):
                        raise
                    failed += 1
                    self.stats.errors.append(str(exc))
                    log.warning("%s", exc)
                    continue
                record = self._record(pkg, now_iso(), bounds, seen, where=f"package_show id={name}")
                if record is not None:
                    yield record
            self.page_done({"via": "list", "pager": pager.state(), "idless": self._idless, "failed": failed,
                            "listed": len(seen) + self._idless + unarchived,
                            "fallback_reason": self.fallback_reason})
        if mode == "full":
            self.stats.complete_listing = pager.done and failed == 0

    def _show(self, ref: str) -> Any:
        result = self._action("package_show", {"id": ref}, native_id=ref)
        if isinstance(result, list):  # some portals wrap the one package in a list
            dicts = [p for p in result if isinstance(p, dict)]
            result = next((p for p in dicts if ref in (p.get("id"), p.get("name"))), dicts[0] if dicts else None)
            if result is None:
                raise self.error(SkippableRecordError, "package_show answered an empty list", native_id=ref)
        return result

    def _record(self, pkg: Any, fetched_at: str, bounds: HarvestWindow | None, seen: set[str],
                where: str) -> RawRecord | None:
        if not isinstance(pkg, dict):
            self._idless += 1
            self.report(f"{where}: record is not a JSON object ({type(pkg).__name__})")
            return None
        native_id = pkg.get("id")
        if not native_id or not isinstance(native_id, str):
            self._idless += 1
            self.report(f"{where}: package has no id (name={pkg.get('name')!r})", field="id")
            return None
        if native_id in seen:
            self.stats.skip("duplicate")
            return None
        seen.add(native_id)
        ptype = pkg.get("type") or "dataset"
        if ptype not in self.options.include_types:
            self.stats.skip(f"type:{ptype}")
            return None
        state = pkg.get("state") or "active"
        if state not in ("active", "deleted"):
            self.stats.skip(f"state:{state}")
            return None
        modified = pkg.get("metadata_modified")
        if self.outside(bounds, parse_ckan_time(modified), stamp=modified, native_id=native_id,
                        field="metadata_modified"):
            return None
        return RawRecord(source_id=self.source_id, native_id=native_id, fetched_at=fetched_at,
                         media_type="application/json", payload=pkg, deleted=state == "deleted",
                         source_modified=modified if isinstance(modified, str) else None)


class _SearchUnavailable(Exception):
    """package_search failed on its first page in a way package_list may survive."""


def _describe_raw_error(url: str, exc: CKANAPIError) -> tuple[str, int | None]:
    """Turn ckanapi's ``repr([url, status, body])`` message into a readable one."""
    try:
        _, status, body = ast.literal_eval(str(exc.args[0]))
    except (ValueError, SyntaxError, TypeError, IndexError):
        return f"{url}: {str(exc)[:300]}", None
    if status == 200:
        try:
            json.loads(body)
            problem = "a JSON body without CKAN's success/result envelope"
        except ValueError as err:
            problem = f"malformed JSON ({err})"
        return f"{url} answered 200 with {problem}; body starts {body[:80]!r}", 200
    return f"{url} answered HTTP {status}: {str(body)[:200]!r}", status
