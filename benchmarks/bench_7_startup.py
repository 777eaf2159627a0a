"""Start-up: one day through the whole graph as a CLI run against a trivial 3-asset daily chain, and the
definitions' import against `import dagster`.

- one day: `dagster asset materialize -m spotify_assets.definitions --select '*' --partition D` (the sample
  source, about 100 plays) against `dagster asset materialize -f benchmarks/trivial_chain.py --select '*'
  --partition D` (three assets passing a number), both on the same default PostgreSQL instance (the generated
  dagster.yaml on an embedded server of its own) with the in-process executor, alternating, a new day each
  pair; wall time of the command and the child's CPU time (user + system, `os.wait4`), with bytecode cached
  as in an installed package (the first, untimed pair writes it);
- import: `python -c "import spotify_assets.definitions"` against `python -c "import dagster"`, alternating.

Medians of `--pairs` pairs. Run: `.venv/bin/python benchmarks/bench_7_startup.py [--pairs 5]`.
"""

# ruff: noqa: E402 - PARTITIONS_START_DATE must be set before spotify_assets is imported.

import os

os.environ["PARTITIONS_START_DATE"] = "2015-01-01"

import argparse
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import _common as bench

from spotify_assets.storage.postgres import stop_embedded_server

FIRST_DAY = date(2024, 1, 1)
TARGET = 1.5
CHAIN = Path(__file__).with_name("trivial_chain.py")


def timed_child(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of a child process; exits if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        output = process.stderr.read().decode()[-2000:] if process.stderr else ""
        sys.exit(f"{' '.join(command[:8])} failed: {output}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="pairs timed (default 5)")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with bench.temporary_stack("startup") as stack:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DB_", "S3_", "DAGSTER_"))
        }
        # The children cache their bytecode (__pycache__), as an installed package has it: with
        # PYTHONDONTWRITEBYTECODE set, each would compile the project's hundred-odd modules again (a fifth
        # of a second that the trivial chain's one module does not cost). The untimed first pair writes it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(
            DAGSTER_HOME=str(stack.root / "dagster_home"),
            LAKE_DIR=stack.settings.lake_dir,
            EMBEDDED_PG_DIR=stack.settings.embedded_pg_dir,
            SPOTIFY_SOURCE="sample",
        )
        (stack.root / "dagster_home").mkdir()
        instance = [sys.executable, "-m", "spotify_assets.operations.cli", "instance"]
        subprocess.run(instance, cwd=stack.root, env=env, check=True, stdout=subprocess.DEVNULL)
        dagster = [str(bin_dir / "dagster"), "asset", "materialize", "--select", "*", "--partition"]
        graph_runs, chain_runs, defs_imports, dagster_imports = [], [], [], []
        for n in range(args.pairs + 1):  # the first pair warms the instance's tables and caches, untimed
            day = (FIRST_DAY + timedelta(days=n)).isoformat()
            graph = timed_child([*dagster, day, "-m", "spotify_assets.definitions"], env, stack.root)
            chain = timed_child([*dagster, day, "-f", str(CHAIN)], env, stack.root)
            defs_import = timed_child(
                [sys.executable, "-c", "import spotify_assets.definitions"], env, stack.root
            )
            dagster_import = timed_child([sys.executable, "-c", "import dagster"], env, stack.root)
            if n:
                graph_runs.append(graph)
                chain_runs.append(chain)
                defs_imports.append(defs_import)
                dagster_imports.append(dagster_import)
                print(f"  {day}: whole graph {graph[0]:.2f} s, chain {chain[0]:.2f} s; import definitions "
                      f"{defs_import[0]:.2f} s, dagster {dagster_import[0]:.2f} s", flush=True)  # fmt: skip
        stop_embedded_server(stack.settings.embedded_pg_dir)

    def med(runs: list[tuple[float, float]], i: int) -> float:
        return bench.median([r[i] for r in runs])

    print()
    print(f"{args.pairs} pairs, alternating, medians; default PostgreSQL instance, in-process executor")
    print(bench.machine_note())
    print()
    rows = [
        ("one day, whole graph (dagster asset materialize)", bench.seconds(med(graph_runs, 0)),
         bench.seconds(med(graph_runs, 1)), f"{med(graph_runs, 0) / med(chain_runs, 0):.2f}x",
         f"{med(graph_runs, 1) / med(chain_runs, 1):.2f}x"),
        ("one day, trivial 3-asset chain", bench.seconds(med(chain_runs, 0)),
         bench.seconds(med(chain_runs, 1)), "1.00x", "1.00x"),
        ("import spotify_assets.definitions", bench.seconds(med(defs_imports, 0)),
         bench.seconds(med(defs_imports, 1)), f"{med(defs_imports, 0) / med(dagster_imports, 0):.2f}x",
         f"{med(defs_imports, 1) / med(dagster_imports, 1):.2f}x"),
        ("import dagster", bench.seconds(med(dagster_imports, 0)), bench.seconds(med(dagster_imports, 1)),
         "1.00x", "1.00x"),
    ]  # fmt: skip
    bench.print_table(["what", "wall", "CPU", "wall ratio", "CPU ratio"], rows)
    print()
    print(bench.result_line("definitions_import_vs_dagster", med(defs_imports, 0) / med(dagster_imports, 0),
                            f"<= {TARGET}x"))  # fmt: skip
    print(bench.result_line("one_day_cli_run_vs_trivial_chain", med(graph_runs, 0) / med(chain_runs, 0),
                            f"<= {TARGET}x"))  # fmt: skip


if __name__ == "__main__":
    main()
