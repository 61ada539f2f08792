"""Alerts and run reports for harvest DAGs, through Airflow's notifier mechanism.

A data engineer wants to hear about a run that failed, that the quality gate blocked, or that
quarantined withdrawals (a portal suddenly listing far fewer datasets) — and to read what a run
did in the Airflow UI without opening logs. :class:`RunAlert` is attached as a task callback;
when it fires it builds one summary of the run (the task context, the upstream results in XCom,
the run's record in the inventory) and hands it to whichever channels the environment names:

* ``CITYCAT_ALERT_WEBHOOK_CONN_ID`` — :class:`WebhookNotifier`, a JSON POST to the connection's URL;
* ``CITYCAT_ALERT_SMTP_CONN_ID`` (+ ``CITYCAT_ALERT_EMAIL_TO``) — the SMTP provider's ``SmtpNotifier``;
* ``CITYCAT_AIRFLOW_API_CONN_ID`` — the summary becomes the DAG run's **note** (Airflow 3.3's Task
  SDK cannot set a note, so it goes through the public REST API with that connection's login).

Channels are read when the callback fires, not when the DAG file is parsed, so alerting can be
switched on without touching the DAGs. Secrets stay in the connections: messages about a failed
delivery name the connection id, never its URL or password.
"""

from __future__ import annotations

import html
import json
import logging
import os
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
from airflow.sdk import BaseNotifier

log = logging.getLogger("citycat.notify")

ENV_WEBHOOK = "CITYCAT_ALERT_WEBHOOK_CONN_ID"
ENV_SMTP = "CITYCAT_ALERT_SMTP_CONN_ID"
ENV_EMAIL_TO = "CITYCAT_ALERT_EMAIL_TO"
ENV_EMAIL_FROM = "CITYCAT_ALERT_EMAIL_FROM"
ENV_API = "CITYCAT_AIRFLOW_API_CONN_ID"
ENV_DOCS_URL = "CITYCAT_DATA_DOCS_URL"
NOTE_LIMIT = 1000  # Airflow's DagRunPatchBody.note max length
TIMEOUT = 10


class AlertDeliveryError(RuntimeError):
    """A channel could not deliver; the message names the connection id, never its URL or secret."""


# --------------------------------------------------------------------------- the summary


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _pull(ti: Any, task_id: str) -> dict | None:
    try:
        value = ti.xcom_pull(task_ids=task_id)
    except Exception:  # noqa: BLE001 - a missing XCom is normal for tasks that failed or never ran
        return None
    return value if isinstance(value, dict) else None


def _run_record(source_id: str, run_id: str) -> Any:
    """The run's inventory record, or None when the inventory cannot be read (the alert still goes out)."""
    try:
        from citycat import airflow_tasks, pipeline

        inv = airflow_tasks._inventory(pipeline.data_dir_from_env())
        try:
            return inv.get_run(pipeline.run_key(source_id, run_id))
        finally:
            getattr(inv, "close", lambda: None)()
    except Exception as exc:  # noqa: BLE001 - e.g. the database is down: that may be why we alert
        log.warning("run summary without the inventory record (%s)", type(exc).__name__)
        return None


def docs_link(path: str | None) -> str | None:
    """The Data Docs index as a URL: under ``CITYCAT_DATA_DOCS_URL`` when the data dir is served, else the path."""
    if not path:
        return None
    base = os.environ.get(ENV_DOCS_URL)
    data_dir = os.environ.get("CITYCAT_DATA_DIR")
    if base and data_dir and os.path.abspath(path).startswith(os.path.abspath(data_dir) + os.sep):
        rel = os.path.relpath(path, data_dir).replace(os.sep, "/")
        return base.rstrip("/") + "/" + quote(rel)
    return path


def run_summary(context: dict[str, Any], event: str) -> dict[str, Any]:
    """One JSON-able summary of a harvest run, from what the callback can see."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "")
    run_id = getattr(ti, "run_id", None) or getattr(context.get("dag_run"), "run_id", "")
    source_id = dag_id.removeprefix("harvest__")
    harvested = _pull(ti, "harvest") or {}
    validated = _pull(ti, "validate") or {}
    loaded = _pull(ti, "load") or {}
    record = _run_record(source_id, run_id)
    exc = context.get("exception")
    gate = validated or (record.gate if record is not None and record.gate else {})
    summary = {
        "event": event,
        "source_id": source_id,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": getattr(ti, "task_id", None),
        "status": record.status if record is not None else None,
        "mode": harvested.get("mode") or (record.mode if record is not None else None),
        "window": [_plain(harvested.get("window_start")), _plain(harvested.get("window_end"))],
        "seen": harvested.get("seen"),
        "counts": {k: v for k, v in (loaded or (record.counts if record is not None and record.counts else {})).items()
                   if isinstance(v, int)},
        "quarantined": int(loaded.get("quarantined") or 0),
        "quarantine_reason": loaded.get("quarantine_reason"),
        "gate_passed": gate.get("passed") if gate else None,
        "gate_reasons": list(gate.get("reasons") or [])[:10] if gate else [],
        "reason": f"{type(exc).__name__}: {exc}"[:2000] if exc is not None else None,
        "data_docs": docs_link(validated.get("data_docs") or (record.data_docs if record is not None else None)),
        "log_url": getattr(ti, "log_url", None),
    }
    return summary


def classify_failure(context: dict[str, Any]) -> str:
    exc = context.get("exception")
    return "gate_failed" if exc is not None and type(exc).__name__ == "GateFailed" else "task_failed"


def title(summary: dict[str, Any]) -> str:
    event = summary.get("event")
    if event == "task_failed":
        what = f"task {summary.get('task_id')} failed"
    elif event == "gate_failed":
        what = "quality gate blocked the load"
    elif event == "quarantined":
        what = f"{summary.get('quarantined')} withdrawals quarantined"
    elif event == "success":
        what = "harvest succeeded"
    else:
        what = str(event)
    return f"[citycat] {summary['source_id']}: {what} ({summary['run_id']})"


def report_markdown(summary: dict[str, Any], limit: int = NOTE_LIMIT) -> str:
    """The run report shown as the DAG run's note in the UI (markdown, within Airflow's note limit)."""
    counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items()) or "none"
    lines = [f"**{title(summary).removeprefix('[citycat] ')}**", "",
             f"- mode: {summary['mode'] or '?'}; window: {summary['window'][0] or '—'} → {summary['window'][1] or '—'}",
             f"- records seen: {summary['seen'] if summary['seen'] is not None else '?'}; inventory: {counts}"]
    if summary["quarantined"]:
        lines.append(f"- quarantined withdrawals: {summary['quarantined']} ({summary['quarantine_reason'] or ''})")
    if summary["gate_passed"] is not None:
        lines.append(f"- quality gate: {'passed' if summary['gate_passed'] else 'BLOCKED'}")
        lines += [f"  - {r}" for r in summary["gate_reasons"][:3]]
    if summary["reason"]:
        lines.append(f"- error: {summary['reason'][:300]}")
    if summary["data_docs"]:
        lines.append(f"- [GX Data Docs]({summary['data_docs']})")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def report_html(summary: dict[str, Any]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(json.dumps(v, default=str))}</td></tr>"
                   for k, v in summary.items())
    return f"<h3>{html.escape(title(summary))}</h3><table>{body}</table>"


# --------------------------------------------------------------------------- channels


def _connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def connection_url(conn: Any) -> str:
    """The URL an HTTP/generic connection points at (``http://host:port/path`` in URI form)."""
    extra = conn.extra_dejson or {}
    host = conn.host or ""
    if "://" in host:
        base = host.rstrip("/")
    else:
        scheme = extra.get("scheme") or ("https" if conn.conn_type == "https" else "http")
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    path = extra.get("endpoint") or conn.schema or ""
    return base + ("/" + path.lstrip("/") if path else "")


class WebhookNotifier(BaseNotifier):
    """POST the run summary as JSON to the URL of an Airflow connection.

    The connection's password is sent as a bearer token (with a login too: HTTP basic auth);
    extra ``headers`` are added. Nothing of the connection is ever written to a log.
    """

    def __init__(self, conn_id: str, summary: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.summary = summary

    def notify(self, context: dict[str, Any]) -> None:
        summary = self.summary or run_summary(context, classify_failure(context))
        conn = _connection(self.conn_id)
        headers = {"Content-Type": "application/json", **(conn.extra_dejson or {}).get("headers", {})}
        auth = None
        if conn.login and conn.password:
            auth = (conn.login, conn.password)
        elif conn.password:
            headers["Authorization"] = f"Bearer {conn.password}"
        try:
            r = requests.post(connection_url(conn), data=json.dumps({"text": title(summary), **summary}, default=str),
                              headers=headers, auth=auth, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise AlertDeliveryError(f"webhook of connection {self.conn_id!r} unreachable ({type(exc).__name__}); "
                                     "check the connection's host and port") from None
        if r.status_code >= 300:
            raise AlertDeliveryError(f"webhook of connection {self.conn_id!r} answered HTTP {r.status_code}")


def smtp_notifier(conn_id: str, summary: dict[str, Any]) -> BaseNotifier:
    """The SMTP provider's notifier with citycat's subject and body (recipients from CITYCAT_ALERT_EMAIL_TO)."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    to = [a.strip() for a in os.environ.get(ENV_EMAIL_TO, "").split(",") if a.strip()]
    if not to:
        raise AlertDeliveryError(f"{ENV_SMTP}={conn_id} is set but {ENV_EMAIL_TO} names no recipient; "
                                 "set it to a comma-separated list of addresses")
    return SmtpNotifier(to=to, smtp_conn_id=conn_id, from_email=os.environ.get(ENV_EMAIL_FROM) or None,
                        subject=title(summary), html_content=report_html(summary))


def set_run_note(conn_id: str, summary: dict[str, Any]) -> None:
    """Write the run report into the DAG run's note through Airflow's public REST API."""
    conn = _connection(conn_id)
    base = connection_url(conn).rstrip("/")
    try:
        token = requests.post(f"{base}/auth/token", json={"username": conn.login, "password": conn.password},
                              timeout=TIMEOUT)
        token.raise_for_status()
        r = requests.patch(f"{base}/api/v2/dags/{quote(summary['dag_id'], safe='')}/dagRuns/"
                           f"{quote(summary['run_id'], safe='')}", params={"update_mask": "note"},
                           json={"note": report_markdown(summary)},
                           headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise AlertDeliveryError(f"Airflow API of connection {conn_id!r} unreachable or refused the login "
                                 f"({type(exc).__name__})") from None
    if r.status_code >= 300:
        raise AlertDeliveryError(f"Airflow API of connection {conn_id!r} answered HTTP {r.status_code} "
                                 "to the run note update")


# --------------------------------------------------------------------------- the callback


class RunAlert(BaseNotifier):
    """Task callback: decide what happened, write the run note, alert when it is worth a message.

    ``on="failure"`` (``on_failure_callback``): always alert (``task_failed`` or ``gate_failed``).
    ``on="load"`` (the load task's ``on_success_callback``): note always, alert only when
    withdrawals were quarantined. Every channel is tried even when one fails.
    """

    def __init__(self, on: str = "failure") -> None:
        super().__init__()
        if on not in ("failure", "load"):
            raise ValueError(f"RunAlert(on={on!r}): use 'failure' or 'load'")
        self.on = on

    def notify(self, context: dict[str, Any]) -> None:
        if not any(os.environ.get(env) for env in (ENV_API, ENV_WEBHOOK, ENV_SMTP)):
            return  # nothing configured: not even the inventory is read
        event = classify_failure(context) if self.on == "failure" else "success"
        summary = run_summary(context, event)
        if self.on == "load" and summary["quarantined"]:
            summary["event"] = "quarantined"
        errors = []
        if os.environ.get(ENV_API):
            try:
                set_run_note(os.environ[ENV_API], summary)
            except Exception as exc:  # noqa: BLE001 - the other channels must still be tried
                errors.append(str(exc))
        if summary["event"] != "success":
            for env, send in ((ENV_WEBHOOK, lambda c: WebhookNotifier(c, summary).notify(context)),
                              (ENV_SMTP, lambda c: smtp_notifier(c, summary).notify(context))):
                if os.environ.get(env):
                    try:
                        send(os.environ[env])
                    except Exception as exc:  # noqa: BLE001
                        errors.append(str(exc) if isinstance(exc, AlertDeliveryError)
                                      else f"{env}={os.environ[env]}: {type(exc).__name__}")
        for message in errors:
            log.error("citycat alert not delivered: %s", message)
        if errors:
            raise AlertDeliveryError("; ".join(errors))
