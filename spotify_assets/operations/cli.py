"""`spotify-assets`: the demo run and its summary, Spotify authorisation, export date ranges, rebuilds."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from spotify_assets.contracts.settings import Settings, get_settings
from spotify_assets.operations.instance_config import prepare_instance
from spotify_assets.operations.quiet_run import hide_quiet_warnings
from spotify_assets.operations.serve import serve as serve_topology
from spotify_assets.operations.topology import WORKSPACE, Topology
from spotify_assets.storage.bi_port import LOOPBACK, socket_file
from spotify_assets.storage.bi_port import serve_until_signalled as serve_bi_port
from spotify_assets.storage.postgres import EMBEDDED_USER, embedded_server, stop_embedded_server

DEFAULT_BI_PORT = 5433

# The commands that need pandas, pyarrow or spotipy (through the Dagster graph, the lake or the Spotify
# client) import the module that does their work inside their function: seconds of start-up that `--help`,
# `instance`, `serve`, `stop-postgres` and `bi-port` do not need (test_layers.py's LAZY_IMPORTS).


class UsageError(Exception):
    """A command's arguments do not go together: `main` prints the usage and the message, and exits 2."""


def demo(args: argparse.Namespace, settings: Settings) -> int:
    """Materialize the last 7 days on the configured stack and print a summary."""
    from spotify_assets.operations.demo import run_demo

    return run_demo(settings)


def summary(args: argparse.Namespace, settings: Settings) -> int:
    """Print rows per table and the top artists from the warehouse."""
    from spotify_assets.operations.demo import summary_lines

    print("\n".join(summary_lines(settings)))
    return 0


def instance(args: argparse.Namespace, settings: Settings) -> int:
    """Write DAGSTER_HOME/dagster.yaml (storage, run queue, monitoring) from the settings."""
    print("\n".join(prepare_instance(settings, dotenv=args.dotenv)))
    return 0


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the gRPC code server, dagster-webserver and dagster-daemon (production, one host)."""
    if not Path(WORKSPACE).is_file():
        print(f"{WORKSPACE} not found: run `spotify-assets serve` from the project root.", file=sys.stderr)
        return 2
    print("\n".join(prepare_instance(settings)), flush=True)
    # The code server listens on loopback only: the webserver, the daemon and run workers are on this host.
    topology = Topology(code_port=args.code_port, web_host=args.host, web_port=args.port)
    print(
        f"Serving the UI on http://{args.host}:{args.port} (code server 127.0.0.1:{args.code_port}); "
        "Ctrl-C stops.",
        flush=True,
    )
    return serve_topology(topology)


def stop_postgres(args: argparse.Namespace, settings: Settings) -> int:
    """Stop the embedded PostgreSQL (it keeps running between runs)."""
    if not settings.uses_embedded_postgres:
        raise UsageError("DB_HOST is set: the warehouse is an external PostgreSQL, not the embedded one")
    stop_embedded_server(settings.embedded_pg_dir)
    print(f"Stopped the embedded PostgreSQL of {settings.embedded_pg_dir} (if it was running).")
    return 0


def auth(args: argparse.Namespace, settings: Settings) -> int:
    """Authorise this app to read your recently played tracks."""
    if args.listener is None:
        from spotify_assets.sources.auth import run_auth

        return run_auth(settings, open_browser=not args.no_browser, port=args.port, print_env=args.print_env)
    if args.print_env:
        raise UsageError("--print-env keeps one token in .env: it does not combine with --listener")
    from spotify_assets.operations.listener_auth import authorize_listener

    return authorize_listener(
        settings, args.listener or None, open_browser=not args.no_browser, port=args.port
    )


def listeners(args: argparse.Namespace, settings: Settings) -> int:
    """List the listeners and their tokens, or remove one."""
    if args.delete_plays and not args.remove:
        raise UsageError("--delete-plays needs --remove NAME")
    from spotify_assets.operations.listeners import run_listeners

    return run_listeners(settings, remove=args.remove, delete=args.delete_plays, yes=args.yes)


def bi_port(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the embedded warehouse on 127.0.0.1 for Power BI, Tableau, Metabase."""
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
        asyncio.run(serve_bi_port(socket_file(info.socket_dir, info.port), args.port, ready))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        print(f"Cannot listen on {LOOPBACK}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0


def history_range(args: argparse.Namespace, settings: Settings) -> int:
    """Print the days a Spotify data export covers and the settings to import it."""
    folder = args.folder or settings.history_dir
    if not folder:
        raise UsageError("history-range needs a folder: give one, or set HISTORY_DIR")
    from spotify_assets.operations.history_range import history_range_lines
    from spotify_assets.sources.history import HistoryFileError

    try:
        lines = history_range_lines(folder, settings.partitions_timezone, settings.partitions_start_date)
    except HistoryFileError as error:
        print(f"Cannot import this export: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    """Is it healthy? listeners, failed runs, gold, the daemon; exit 1 when action is needed."""
    from spotify_assets.operations.alerts.status import run_status

    return run_status(settings, as_json=args.json)


def rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Drop a warehouse table and re-materialize it from the lake (after a schema change)."""
    from spotify_assets.operations.rebuild import run_rebuild, table_of

    try:
        table_of(args.table)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return run_rebuild(settings, args.table, yes=args.yes, dry_run=args.dry_run)


Command = Callable[[argparse.Namespace, Settings], int]


def parser() -> argparse.ArgumentParser:
    """The `spotify-assets` parser: each subcommand's function is its `func` default."""
    top = argparse.ArgumentParser(prog="spotify-assets", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, func: Command) -> argparse.ArgumentParser:
        """The subcommand `name`, run by `func`, whose docstring is its help."""
        sub = commands.add_parser(name, help=(func.__doc__ or "").rstrip("."))
        sub.set_defaults(func=func)
        return sub

    command("demo", demo)
    command("summary", summary)
    sub = command("instance", instance)
    sub.add_argument(
        "--dotenv", action="store_true", help="also add DAGSTER_HOME to the project's .env if missing"
    )
    sub = command("serve", serve)
    sub.add_argument("--host", default="127.0.0.1", help="address the webserver listens on (127.0.0.1)")
    sub.add_argument("--port", type=int, default=3000, help="webserver port (default 3000)")
    sub.add_argument("--code-port", type=int, default=4000, help="code server port on 127.0.0.1 (4000)")
    command("stop-postgres", stop_postgres)
    sub = command("auth", auth)
    sub.add_argument("--no-browser", action="store_true", help="print the URL and paste the redirect back")
    sub.add_argument("--port", type=int, help="loopback port of the callback listener")
    sub.add_argument("--print-env", action="store_true", help="print SPOTIFY_REFRESH_TOKEN=... for .env")
    sub.add_argument(
        "--listener",
        nargs="?",
        const="",
        metavar="NAME",
        help="one of several listeners: store the token in SPOTIFY_TOKEN_DIR/NAME.json and register NAME "
        "(without NAME: the Spotify user id)",
    )
    sub = command("listeners", listeners)
    sub.add_argument("--remove", metavar="NAME", help="unregister NAME and delete its token file")
    sub.add_argument(
        "--delete-plays",
        action="store_true",
        help="with --remove: also delete their plays from the lake and rebuild those days without them",
    )
    sub.add_argument("--yes", action="store_true", help="with --delete-plays: do not ask")
    sub = command("bi-port", bi_port)
    sub.add_argument("--port", type=int, default=DEFAULT_BI_PORT, help="TCP port (default 5433)")
    sub = command("history-range", history_range)
    sub.add_argument("folder", nargs="?", help="export folder (default: HISTORY_DIR)")
    sub = command("status", status)
    sub.add_argument("--json", action="store_true", help="print the status as JSON")
    sub = command("rebuild", rebuild)
    sub.add_argument("table", help="the table's asset key, e.g. gold/dim_track")
    sub.add_argument("--yes", action="store_true", help="drop without asking")
    sub.add_argument("--dry-run", action="store_true", help="only print the runs that would rebuild it")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `spotify-assets` console script."""
    hide_quiet_warnings()
    top = parser()
    args = top.parse_args(argv)
    try:
        return int(args.func(args, get_settings()))
    except UsageError as error:
        top.error(str(error))
    return 2


if __name__ == "__main__":
    sys.exit(main())
