"""The ``citycat`` command: the same stage functions as the DAGs, driven from a terminal."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

log = logging.getLogger("citycat")

# Commands that live in modules of their own: each module has ``register(sub)``, which adds its
# subparser(s) and sets ``handler=<function(args) -> int>`` as the parser's default.
COMMAND_MODULES: tuple[str, ...] = ("citycat.cli_airflow", "citycat.cli_serve", "citycat.cli_report", "citycat.cli_quality",
                                     "citycat.cli_changes")


def _sources_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sources", default=os.environ.get("CITYCAT_SOURCES", "sources.yaml"),
                   help="sources file (default: $CITYCAT_SOURCES or ./sources.yaml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citycat", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("sources", help="work with sources.yaml")
    ssub = sp.add_subparsers(dest="sources_command", required=True)
    chk = ssub.add_parser("check", help="validate sources.yaml and report every problem with its line")
    _sources_arg(chk)
    knd = ssub.add_parser("kinds", help="list the installed source kinds and their options")
    knd.add_argument("--markdown", metavar="KIND", help="print KIND's options as the docs/sources.md table")

    run = sub.add_parser("run", help="harvest every enabled source, load the inventory, write the feed")
    _sources_arg(run)
    run.add_argument("--mode", choices=["incremental", "full"], default="incremental")
    run.add_argument("--only", default=None, help="comma-separated source ids to run (default: all enabled)")
    run.add_argument("--no-publish", action="store_true", help="do not write the feed afterwards")

    hv = sub.add_parser("harvest", help="run one source (harvest, normalise, validate, load)")
    hv.add_argument("source", help="source id from sources.yaml")
    _sources_arg(hv)
    hv.add_argument("--mode", choices=["incremental", "full", "replay"], default="incremental")
    hv.add_argument("--since", help="window start (ISO 8601) for incremental mode")
    hv.add_argument("--until", help="window end (ISO 8601) for incremental mode")
    hv.add_argument("--replay-run", help="with --mode replay: the run id whose raw archive to re-process")
    hv.add_argument("--publish", action="store_true", help="write the feed afterwards")

    pub = sub.add_parser("publish", help="write the DCAT feed from the inventory")
    _sources_arg(pub)

    ex = sub.add_parser("example", help="offline example: serve recorded CKAN responses on 127.0.0.1 and run them")
    ex.add_argument("--sources", default=str(Path(__file__).resolve().parent.parent / "examples" / "sources.yaml"))

    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("great_expectations", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    try:
        if getattr(args, "handler", None) is not None:
            return args.handler(args)
        if args.command == "sources" and args.sources_command == "kinds":
            from citycat import kinds

            print(kinds.markdown(args.markdown) if args.markdown else kinds.summary())
            return 0
        if args.command == "sources":
            return cmd_sources_check(args.sources)
        if args.command == "run":
            only = [s.strip() for s in args.only.split(",")] if args.only else None
            return cmd_run(args.sources, mode=args.mode, only=only, publish=not args.no_publish)
        if args.command == "harvest":
            return cmd_harvest(args)
        if args.command == "publish":
            return cmd_publish(args.sources)
        if args.command == "example":
            return cmd_example(args.sources)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2


# --------------------------------------------------------------------------- commands


def cmd_sources_check(path: str) -> int:
    from citycat.config import check_sources

    problems = check_sources(path)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in {path}", file=sys.stderr)
        return 1
    print(f"{path}: OK")
    return 0


def _load(path: str):
    from citycat.config import ConfigError, load_sources

    try:
        return load_sources(path)
    except ConfigError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        print(f"fix {path} first (citycat sources check --sources {path})", file=sys.stderr)
        raise SystemExit(1) from None


def _now() -> datetime:
    # The CLI is the one place that reads the clock; stages get times passed in.
    return datetime.now(timezone.utc).replace(microsecond=0)


def cmd_run(path: str, *, mode: str, only: list[str] | None, publish: bool,
            sources_file=None) -> int:
    from citycat import pipeline
    from citycat.runner import run_source

    sources = sources_file or _load(path)
    data_dir = pipeline.data_dir_from_env()
    inventory = pipeline.open_inventory(data_dir)
    now = _now()
    run_id = f"cli__{now.strftime('%Y-%m-%dT%H-%M-%SZ')}"
    chosen = [s for s in sources.sources if s.enabled and (only is None or s.id in only)]
    if only:
        unknown = sorted(set(only) - {s.id for s in sources.sources})
        if unknown:
            print(f"unknown source id(s): {', '.join(unknown)}", file=sys.stderr)
            return 1
    summaries = []
    for source in chosen:
        log.info("%s: %s harvest from %s", source.id, mode, source.url)
        summaries.append(run_source(source, sources, run_id=run_id, mode=mode, now=now, data_dir=data_dir,
                                    inventory=inventory, progress=_progress_factory(source.id)))
    print(format_summary(summaries))
    if publish:
        result = pipeline.publish(sources, inventory=inventory, data_dir=data_dir, generated_at=now)
        print(f"feed: {result['path']}/catalog.ttl ({result['datasets']} datasets, {result['pages']} pages)")
    print(f"inventory: {_safe_url(inventory)}")
    return 0 if all(s.status == "success" for s in summaries) else 1


def cmd_harvest(args: argparse.Namespace) -> int:
    from citycat import pipeline
    from citycat.runner import run_source

    sources = _load(args.sources)
    try:
        source = sources.get(args.source)
    except KeyError as exc:
        print(exc.args[0] if exc.args else exc, file=sys.stderr)
        return 1
    data_dir = pipeline.data_dir_from_env()
    inventory = pipeline.open_inventory(data_dir)
    now = _now()
    run_id = f"cli__{now.strftime('%Y-%m-%dT%H-%M-%SZ')}"
    summary = run_source(source, sources, run_id=run_id, mode=args.mode, now=now, data_dir=data_dir,
                         inventory=inventory, since=pipeline.parse_time(args.since),
                         until=pipeline.parse_time(args.until), replay_run=args.replay_run,
                         progress=_progress_factory(source.id))
    print(format_summary([summary]))
    print(f"run id: {run_id}")
    if args.publish:
        result = pipeline.publish(sources, inventory=inventory, data_dir=data_dir, generated_at=now)
        print(f"feed: {result['path']}/catalog.ttl ({result['datasets']} datasets)")
    return 0 if summary.status == "success" else 1


def cmd_publish(path: str) -> int:
    from citycat import pipeline

    sources = _load(path)
    data_dir = pipeline.data_dir_from_env()
    inventory = pipeline.open_inventory(data_dir)
    result = pipeline.publish(sources, inventory=inventory, data_dir=data_dir, generated_at=_now())
    print(f"feed: {result['path']}/catalog.ttl ({result['datasets']} datasets, {result['pages']} pages)")
    return 0


def cmd_example(path: str) -> int:
    """Run the offline example: the recorded responses are served by a real local CKAN API."""
    from citycat.example import run_example

    return run_example(Path(path), runner=cmd_run)


# --------------------------------------------------------------------------- output


def _safe_url(inventory) -> str:
    url = getattr(inventory, "url", "")
    try:
        from sqlalchemy.engine import make_url

        return make_url(str(url)).render_as_string(hide_password=True)
    except Exception:
        return "(inventory)"


def _progress_factory(source_id: str) -> Callable[[str], Callable[[int], None]]:
    """A progress bar on a terminal, a log line every 5,000 records otherwise."""
    interactive = sys.stderr.isatty()

    def factory(stage: str) -> Callable[[int], None]:
        if interactive:
            from tqdm import tqdm

            bar = tqdm(desc=f"{source_id} {stage}", unit=" rec", leave=False, file=sys.stderr)
            return bar.update
        count = [0]

        def tick(n: int) -> None:
            count[0] += n
            if count[0] % 5000 == 0:
                log.info("%s %s: %d records", source_id, stage, count[0])
        return tick
    return factory


COLUMNS = ("source", "status", "mode", "seen", "created", "updated", "unchanged", "withdrawn", "quarantined",
           "skipped", "failed", "seconds")


def format_summary(summaries) -> str:
    rows = [[s.source_id, s.status, s.mode, s.seen, s.created, s.updated, s.unchanged, s.withdrawn,
             s.quarantined, s.skipped, s.failed, f"{s.seconds:.1f}"] for s in summaries]
    widths = [max(len(str(x)) for x in col) for col in zip(COLUMNS, *rows)] if rows else [len(c) for c in COLUMNS]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(COLUMNS, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    notes = [f"  {s.source_id}: {s.reason}" for s in summaries if s.reason]
    for s in summaries:
        skipped = (s.stages.get("harvest") or {}).get("skipped") or {}
        if skipped:
            notes.append(f"  {s.source_id}: skipped " + ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())))
        by_field = (s.stages.get("load") or {}).get("changes_by_field")
        if by_field:
            from inventory.changes import describe_counts
            notes.append(f"  {s.source_id}: changed fields: {describe_counts(by_field)}")
    if notes:
        lines.append("")
        lines.append("notes:")
        lines.extend(notes)
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
