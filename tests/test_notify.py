"""Alerts through Airflow's notifiers: a real webhook receiver and a real SMTP server on 127.0.0.1
get the run summary when a dag.test() run is blocked by its quality gate or quarantines withdrawals."""

from __future__ import annotations

import asyncore  # noqa: F401 - smtpd's event loop (deprecated, still in Python 3.11's standard library)
import email
import json
import smtpd
import threading
from email import policy
from pathlib import Path

import pytest

from citycat.localserver import LocalServer, Reply

from test_dags import ROOT, _python, airflow_env  # noqa: F401 - the shared Airflow home fixture

pytestmark = pytest.mark.airflow
TOKEN = "s3cret-webhook-token"


class WebhookReceiver(LocalServer):
    """Records each POSTed JSON body with its Authorization header; answers 204 as chat webhooks do."""

    def answer(self, request, fault):
        return Reply(204, b"", "text/plain")

    def log_entry(self, request):
        return {"path": request.path, "body": request.params, "authorization": request.headers.get("Authorization")}


class SmtpSink(smtpd.SMTPServer):
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        super().__init__(("127.0.0.1", 0), None, decode_data=False)

    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        self.messages.append((mailfrom, rcpttos, data))


@pytest.fixture
def smtp_server():
    sink = SmtpSink()
    thread = threading.Thread(target=asyncore.loop, kwargs={"timeout": 0.05, "map": sink._map}, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        sink.close()
        thread.join(timeout=5)


def test_gate_failure_and_quarantine_reach_webhook_and_smtp_without_leaking_the_token(airflow_env, tmp_path,
                                                                                      smtp_server):
    from test_pipeline_e2e import RECORDED

    with WebhookReceiver() as hook:
        env = dict(airflow_env, CITYCAT_DATA_DIR=str(tmp_path / "data"), CITYCAT_SOURCES=str(tmp_path / "s.yaml"),
                   CITYCAT_ALERT_WEBHOOK_CONN_ID="citycat_hook",
                   AIRFLOW_CONN_CITYCAT_HOOK=f"http://:{TOKEN}@127.0.0.1:{hook.port}/hooks/citycat",
                   CITYCAT_ALERT_SMTP_CONN_ID="citycat_smtp",
                   AIRFLOW_CONN_CITYCAT_SMTP=f"smtp://127.0.0.1:{smtp_server.socket.getsockname()[1]}"
                                             "?disable_ssl=true&disable_tls=true&timeout=5&retry_limit=1",
                   CITYCAT_ALERT_EMAIL_TO="data-team@example.org", CITYCAT_ALERT_EMAIL_FROM="citycat@example.org")
        done = _python(f"""
            import json, sys
            from datetime import datetime, timezone
            from pathlib import Path
            sys.path.insert(0, {str(ROOT)!r})
            from citycat.localportal import DirectoryStore, LocalPortal
            from tests.helpers import write_sources
            packages = DirectoryStore.from_directory(Path({str(RECORDED)!r})).packages
            with LocalPortal(DirectoryStore(packages)) as portal:
                write_sources(Path({str(tmp_path / 's.yaml')!r}), {{"id": "drop", "url": portal.url}})
                from airflow.dag_processing.dagbag import DagBag
                bag = DagBag(dag_folder="dags")
                assert not bag.import_errors, bag.import_errors
                dag, states = bag.dags["harvest__drop"], []
                for day, listed in ((20, packages), (21, packages[:1]), (22, [])):
                    portal.store = DirectoryStore(listed)  # the portal lists 3, then 1, then no dataset
                    run = dag.test(logical_date=datetime(2026, 11, day, 2, tzinfo=timezone.utc),
                                   run_conf={{"mode": "full"}})
                    states.append(str(run.state))
                print("RESULT" + json.dumps(states))
        """, env)
        assert "RESULT" in done.stdout, (done.stdout[-3000:], done.stderr[-5000:])
        states = json.loads(done.stdout.split("RESULT", 1)[1])
        posts = list(hook.requests)
    # 3 → 1 datasets: within the gate's max_count_drop (80%) but past max_drop (50%): withdrawals
    # quarantined, the run succeeds; 1 → 0: the gate blocks the load and the run fails
    assert [s.rsplit(".", 1)[-1] for s in states] == ["success", "success", "failed"]
    assert [p["body"]["event"] for p in posts] == ["quarantined", "gate_failed"], posts
    quarantine, gate = (p["body"] for p in posts)
    assert all(p["path"] == "/hooks/citycat" and p["authorization"] == f"Bearer {TOKEN}" for p in posts)
    assert gate["source_id"] == "drop" and gate["task_id"] == "validate" and gate["gate_passed"] is False
    assert gate["reason"].startswith("GateFailed") and gate["gate_reasons"], gate
    assert gate["text"].startswith("[citycat] drop: quality gate blocked the load")
    assert gate["data_docs"] and gate["data_docs"].endswith("index.html"), gate  # the run's GX Data Docs
    assert (quarantine["source_id"], quarantine["quarantined"], quarantine["mode"]) == ("drop", 2, "full")
    assert quarantine["quarantine_reason"], quarantine
    # the token is in the connection only: never in the task logs
    assert TOKEN not in done.stdout + done.stderr
    assert TOKEN not in json.dumps(posts[0]["body"]) + json.dumps(posts[1]["body"])

    mails = [email.message_from_bytes(data, policy=policy.default) for _, _, data in smtp_server.messages]
    assert [m["To"] for m in mails] == ["data-team@example.org"] * 2
    assert [m["From"] for m in mails] == ["citycat@example.org"] * 2
    assert "withdrawals quarantined" in mails[0]["Subject"] and "quality gate blocked the load" in mails[1]["Subject"]
    body = mails[1].get_body(("html",)).get_content()
    assert "gate_reasons" in body and "validate" in body


def test_webhook_url_comes_from_the_connection_in_either_form():
    from types import SimpleNamespace as NS

    from citycat.notify import connection_url

    uri_form = NS(conn_type="http", host="127.0.0.1", port=8999, schema="hooks/citycat", extra_dejson={})
    ui_form = NS(conn_type="http", host="https://chat.example.org", port=None, schema=None,
                 extra_dejson={"endpoint": "/api/webhook/abc"})
    assert connection_url(uri_form) == "http://127.0.0.1:8999/hooks/citycat"
    assert connection_url(ui_form) == "https://chat.example.org/api/webhook/abc"


def test_run_note_fits_airflows_limit_and_links_the_data_docs(monkeypatch, tmp_path):
    from citycat.notify import NOTE_LIMIT, report_markdown

    monkeypatch.setenv("CITYCAT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CITYCAT_DATA_DOCS_URL", "https://docs.example.org/data")
    from citycat.notify import docs_link

    index = tmp_path / "quality" / "leeds" / "run 1" / "data_docs" / "index.html"
    summary = {"event": "gate_failed", "source_id": "leeds", "run_id": "r1", "task_id": "validate", "mode": "full",
               "window": [None, "2026-11-28T02:00:00+00:00"], "seen": 10, "counts": {}, "quarantined": 0,
               "quarantine_reason": None, "gate_passed": False, "gate_reasons": ["x" * 900] * 3,
               "reason": "GateFailed: " + "y" * 900, "data_docs": docs_link(str(index))}
    note = report_markdown(summary)
    assert len(note) <= NOTE_LIMIT
    assert summary["data_docs"] == "https://docs.example.org/data/quality/leeds/run%201/data_docs/index.html"
    short = report_markdown(dict(summary, gate_reasons=["title empty"], reason="GateFailed: blocked"))
    assert "[GX Data Docs](https://docs.example.org/data/quality/leeds/run%201/data_docs/index.html)" in short
    assert Path(index).name in short


def test_delivery_failures_name_the_connection_never_its_url_or_token(airflow_env):
    """A refused connection and an HTTP 500 both raise AlertDeliveryError naming only the connection id."""
    with WebhookReceiver() as hook:
        hook.inject("status", times=-1, status=500)
        with WebhookReceiver() as closed:
            closed_port = closed.port  # nothing listens there once the block ends
        env = dict(airflow_env, AIRFLOW_CONN_HOOK_500=f"http://:{TOKEN}@127.0.0.1:{hook.port}/secret-path",
                   AIRFLOW_CONN_HOOK_DOWN=f"http://:{TOKEN}@127.0.0.1:{closed_port}/secret-path")
        done = _python(f"""
            import json, sys
            sys.path.insert(0, {str(ROOT)!r})
            from citycat.notify import AlertDeliveryError, WebhookNotifier
            summary = {{"event": "task_failed", "source_id": "s", "run_id": "r", "task_id": "harvest"}}
            out = []
            for conn in ("hook_500", "hook_down"):
                try:
                    WebhookNotifier(conn, summary).notify({{}})
                    out.append("delivered")
                except AlertDeliveryError as exc:
                    out.append(str(exc))
            print("RESULT" + json.dumps(out))
        """, env, timeout=120)
        assert "RESULT" in done.stdout, done.stderr[-3000:]
        assert len(hook.requests) == 1 and hook.requests[0]["authorization"] == f"Bearer {TOKEN}"
    http500, down = json.loads(done.stdout.split("RESULT", 1)[1])
    assert http500 == "webhook of connection 'hook_500' answered HTTP 500"
    assert down.startswith("webhook of connection 'hook_down' unreachable")
    for text in (http500, down, done.stdout, done.stderr):
        assert TOKEN not in text and "secret-path" not in text
