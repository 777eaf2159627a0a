"""`spotify-assets`: the demo run and its summary, Spotify authorisation, export date ranges, rebuilds."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from psycopg import sql

from spotify_assets.assets.resources import build_postgres
from spotify_assets.contracts.export_formats import STORED_KINDS, VIDEO
from spotify_assets.contracts.settings import Settings, get_settings, read_dotenv
from spotify_assets.contracts.tables import GOLD_TABLES, PLAYS
from spotify_assets.operations.alerts.status import run_status
from spotify_assets.operations.instance_config import dagster_home, remember_dagster_home, write_instance_yaml
from spotify_assets.operations.listener_auth import authorize_listener
from spotify_assets.operations.listeners import run_listeners
from spotify_assets.operations.quiet_run import hide_quiet_warnings, run_quietly
from spotify_assets.operations.rebuild import run_rebuild, table_of
from spotify_assets.operations.serve import serve as serve_topology
from spotify_assets.operations.topology import WORKSPACE, Topology
from spotify_assets.sources.auth import run_auth
from spotify_assets.sources.history import HistoryFileError, read_export_folder
from spotify_assets.storage.bi import ensure_views
from spotify_assets.storage.bi_port import LOOPBACK, socket_file
from spotify_assets.storage.bi_port import serve as serve_bi_port
from spotify_assets.storage.postgres import EMBEDDED_USER, embedded_server, stop_embedded_server
from spotify_assets.transforms.history import day_range

DEMO_DAYS = 7


def demo_partition_range(
    settings: Settings, days: int = DEMO_DAYS, today: date | None = None
) -> tuple[str, str]:
    """The last `days` complete days in the partitions' time zone, as (first, last) partition keys."""
    today = today or datetime.now(ZoneInfo(settings.partitions_timezone)).date()
    last = today - timedelta(days=1)
    first = max(last - timedelta(days=days - 1), settings.partitions_start_date)
    return first.isoformat(), last.isoformat()


def summary_lines(settings: Settings) -> list[str]:
    """Rows per gold table and the top 5 artists (as the report and BI views count them: `bi.plays`)."""
    lines = ["Rows in the warehouse:"]
    with build_postgres(settings).connect() as conn:
        for spec in (PLAYS, *GOLD_TABLES):
            table = sql.Identifier(spec.schema, spec.name)
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
            if row is None:
                raise RuntimeError(f"count(*) of {spec.qualified_name} returned no row")
            count = row[0]
            lines.append(f"  {spec.qualified_name:<28} {count:>9,}")
        ensure_views(conn)
        top = conn.execute(
            """
            SELECT artist, count(*) AS plays, round(sum(listened_ms) / 60000.0) AS minutes
            FROM bi.plays GROUP BY artist_key, artist
            ORDER BY plays DESC, sum(listened_ms) DESC, artist, artist_key LIMIT 5
            """
        ).fetchall()
    lines.append("Top 5 artists:")
    lines += [
        f"  {i}. {name} ({plays} plays, {minutes:.0f} min)" for i, (name, plays, minutes) in enumerate(top, 1)
    ]
    return lines


def run_demo(settings: Settings) -> int:
    """Materialize the whole graph for the last 7 days as one run, then print the summary."""
    first, last = demo_partition_range(settings)
    print("\n".join(prepare_instance(settings)))
    command = [
        "dagster", "asset", "materialize",
        "-m", "spotify_assets.definitions", "--select", "*", "--partition-range", f"{first}...{last}",
    ]  # fmt: skip
    print(f"Materializing {first}...{last} ({settings.resolved_source} source): {' '.join(command)}")
    code = run_quietly(command, "demo")
    if code != 0:
        print(f"The run failed (exit {code}); the error is above.", file=sys.stderr)
        return code
    print("\n".join(summary_lines(settings)))
    return 0


def prepare_instance(settings: Settings, dotenv: bool = False) -> list[str]:
    """Write DAGSTER_HOME/dagster.yaml from the settings and export DAGSTER_HOME; says what it did."""
    home = dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    storage = (
        f"PostgreSQL, schema {settings.dagster_schema!r}"
        if settings.dagster_storage == "postgres"
        else "SQLite"
    )
    if write_instance_yaml(home, settings):
        lines = [
            f"Dagster instance: {home}/dagster.yaml ({storage}, at most {settings.max_concurrent_runs} runs)."
        ]
    else:
        lines = [
            f"Dagster instance: {home}/dagster.yaml is hand-written (no generated marker): left as it is."
        ]
    if dotenv and remember_dagster_home(Path(".env"), home):
        lines.append(f"Added DAGSTER_HOME={home} to .env: dagster commands run from here use this instance.")
    return lines


def history_range_lines(folder: str, timezone: str, start: date) -> list[str]:
    """What an export folder holds: files and rows per kind with their days, and the settings to import it
    (PARTITIONS_START_DATE only when the export starts before `start`, the current one)."""
    export = read_export_folder(folder)
    lines = [f"Spotify export files in {export.folder} (subfolders included):"]
    for kind in (*STORED_KINDS, VIDEO):
        files = export.of_kind(kind)
        label = "video (skipped)" if kind == VIDEO else kind
        days = day_range(files, timezone)
        span = f"  {days[0]} .. {days[1]}" if days and kind != VIDEO else ""
        rows = sum(f.rows for f in files)
        lines.append(f"  {label:<24} {len(files):>3} file(s) {rows:>10,} rows{span}")
    if export.ignored:
        lines.append(f"  ignored (not listening history): {len(export.ignored)} file(s)")
    days = day_range(export.stored_files(), timezone)
    if days is None:
        lines.append("No listening history found: nothing to import.")
        return lines
    first, last = days
    lines += [
        f"First day {first}, last day {last} (days in {timezone}, PARTITIONS_TIMEZONE).",
        "Set in .env (or the environment):",
        f"  HISTORY_DIR={export.folder}",
        *start_date_advice(date.fromisoformat(first), start),
        "and import it in one run:",
        "  dagster asset materialize -m spotify_assets.definitions --select '*' "
        f"--partition-range {first}...{last}",
    ]
    return lines


def start_date_advice(first: date, start: date) -> list[str]:
    """The PARTITIONS_START_DATE lines of `history-range`: move it back to the export's `first` day only when
    the partitions start later (`start`); moving it forward would drop partitions that may hold data."""
    if first < start:
        return [
            f"  PARTITIONS_START_DATE={first}",
            f"(PARTITIONS_START_DATE is {start} now: the partitions must reach back to the export's "
            "first day.)",
        ]
    return [f"PARTITIONS_START_DATE needs no change: it is {start}, on or before the export's first day."]


def run_serve(settings: Settings, host: str, port: int, code_port: int) -> int:
    """Write the instance config, then run the production trio from the project root until stopped."""
    if not Path(WORKSPACE).is_file():
        print(f"{WORKSPACE} not found: run `spotify-assets serve` from the project root.", file=sys.stderr)
        return 2
    print("\n".join(prepare_instance(settings)), flush=True)
    # The code server listens on loopback only: the webserver, the daemon and run workers are on this host.
    topology = Topology(code_port=code_port, web_host=host, web_port=port)
    print(
        f"Serving the UI on http://{host}:{port} (code server 127.0.0.1:{code_port}); Ctrl-C stops.",
        flush=True,
    )
    return serve_topology(topology)


DEFAULT_BI_PORT = 5433


def run_bi_port(settings: Settings, port: int) -> int:
    """Serve the embedded warehouse on 127.0.0.1:`port` for BI tools until interrupted."""
    if not settings.uses_embedded_postgres:
        print(f"DB_HOST is set: point BI tools at {settings.db_host}:{settings.db_port} directly.")
        return 0
    info = embedded_server(settings.embedded_pg_dir).get_postmaster_info()
    if info.socket_dir is None:  # Windows: pgserver listens on TCP already
        print(f"The embedded PostgreSQL already listens on {info.hostname}:{info.port}.")
        return 0

    def ready(bound: int) -> None:
        print(
            f"BI tools can connect to the warehouse now: host {LOOPBACK}, port {bound}, database postgres, "
            f"user {EMBEDDED_USER}, no password (any is accepted; only this machine can connect).\n"
            "Tables: schemas silver and gold; ready-made views: schema bi. Ctrl-C stops.",
            flush=True,
        )

    try:
        asyncio.run(serve_bi_port(socket_file(info.socket_dir, info.port), port, ready))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        print(f"Cannot listen on {LOOPBACK}:{port}: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `spotify-assets` console script."""
    hide_quiet_warnings()
    for key, value in read_dotenv(Path(".env")).items():
        os.environ.setdefault(key, value)
    parser = argparse.ArgumentParser(prog="spotify-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "demo", help="materialize the last 7 days on the configured stack and print a summary"
    )
    commands.add_parser("summary", help="print rows per table and the top artists from the warehouse")
    instance = commands.add_parser(
        "instance", help="write DAGSTER_HOME/dagster.yaml (storage, run queue, monitoring) from the settings"
    )
    instance.add_argument("--dotenv", action="store_true", help="also add DAGSTER_HOME to ./.env if missing")
    serve = commands.add_parser(
        "serve", help="run the gRPC code server, dagster-webserver and dagster-daemon (production, one host)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address the webserver listens on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, help="webserver port (default 3000)")
    serve.add_argument("--code-port", type=int, default=4000, help="code server port on 127.0.0.1 (4000)")
    commands.add_parser("stop-postgres", help="stop the embedded PostgreSQL (it keeps running between runs)")
    auth = commands.add_parser("auth", help="authorise this app to read your recently played tracks")
    auth.add_argument("--no-browser", action="store_true", help="print the URL and paste the redirect back")
    auth.add_argument("--port", type=int, help="loopback port of the callback listener")
    auth.add_argument("--print-env", action="store_true", help="print SPOTIFY_REFRESH_TOKEN=... for .env")
    auth.add_argument(
        "--listener",
        nargs="?",
        const="",
        metavar="NAME",
        help="one of several listeners: store the token in SPOTIFY_TOKEN_DIR/NAME.json and register NAME "
        "(without NAME: the Spotify user id)",
    )
    listeners = commands.add_parser("listeners", help="list the listeners and their tokens, or remove one")
    listeners.add_argument("--remove", metavar="NAME", help="unregister NAME and delete its token file")
    listeners.add_argument(
        "--delete-plays",
        action="store_true",
        help="with --remove: also delete their plays from the lake and rebuild those days without them",
    )
    listeners.add_argument("--yes", action="store_true", help="with --delete-plays: do not ask")
    bi_port = commands.add_parser(
        "bi-port", help="serve the embedded warehouse on 127.0.0.1 for Power BI, Tableau, Metabase"
    )
    bi_port.add_argument("--port", type=int, default=DEFAULT_BI_PORT, help="TCP port (default 5433)")
    history_range = commands.add_parser(
        "history-range", help="print the days a Spotify data export covers and the settings to import it"
    )
    history_range.add_argument("folder", nargs="?", help="export folder (default: HISTORY_DIR)")
    status = commands.add_parser(
        "status", help="is it healthy? listeners, failed runs, gold, the daemon; exit 1 when action is needed"
    )
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    rebuild = commands.add_parser(
        "rebuild", help="drop a warehouse table and re-materialize it from the lake (after a schema change)"
    )
    rebuild.add_argument("table", help="the table's asset key, e.g. gold/dim_track")
    rebuild.add_argument("--yes", action="store_true", help="drop without asking")
    rebuild.add_argument("--dry-run", action="store_true", help="only print the runs that would rebuild it")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "history-range":
        folder = args.folder or settings.history_dir
        if not folder:
            parser.error("history-range needs a folder: give one, or set HISTORY_DIR")
        try:
            print(
                "\n".join(
                    history_range_lines(folder, settings.partitions_timezone, settings.partitions_start_date)
                )
            )
        except HistoryFileError as error:
            print(f"Cannot import this export: {error}", file=sys.stderr)
            return 1
        return 0
    if args.command == "status":
        return run_status(settings, as_json=args.json)
    if args.command == "rebuild":
        try:
            table_of(args.table)
        except ValueError as error:
            parser.error(str(error))
        return run_rebuild(settings, args.table, yes=args.yes, dry_run=args.dry_run)
    if args.command == "auth" and args.listener is not None:
        if args.print_env:
            parser.error("--print-env keeps one token in .env: it does not combine with --listener")
        return authorize_listener(
            settings, args.listener or None, open_browser=not args.no_browser, port=args.port
        )
    if args.command == "listeners":
        if args.delete_plays and not args.remove:
            parser.error("--delete-plays needs --remove NAME")
        return run_listeners(settings, remove=args.remove, delete=args.delete_plays, yes=args.yes)
    if args.command == "auth":
        return run_auth(settings, open_browser=not args.no_browser, port=args.port, print_env=args.print_env)
    if args.command == "stop-postgres":
        if not settings.uses_embedded_postgres:
            parser.error("DB_HOST is set: the warehouse is an external PostgreSQL, not the embedded one")
        stop_embedded_server(settings.embedded_pg_dir)
        print(f"Stopped the embedded PostgreSQL of {settings.embedded_pg_dir} (if it was running).")
        return 0
    if args.command == "instance":
        print("\n".join(prepare_instance(settings, dotenv=args.dotenv)))
        return 0
    if args.command == "serve":
        return run_serve(settings, args.host, args.port, args.code_port)
    if args.command == "bi-port":
        return run_bi_port(settings, args.port)
    if args.command == "demo":
        return run_demo(settings)
    if args.command == "summary":
        print("\n".join(summary_lines(settings)))
        return 0
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
