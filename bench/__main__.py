"""`python -m bench`: the whole benchmark, printed as tables (see docs/performance.md).

Sections, each skippable: the reference comparison (GET and PUT on etcd's v3 JSON gateway,
a bare Flask route and `kvstore serve` on memory and SQLite, interleaved), the per-datastore
table (production server, every request kind, ratios to its /healthz floor; DynamoDB on
moto's server, PostgreSQL on a server of its own), the server comparison (gunicorn sync /
gthread / granian on the same app), the DynamoDB latency check against moto's own GetItem,
and the memory soak.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench import dynamo, postgres, report, suite, wrk
from bench.servers import CANDIDATES, MEMORY_CANDIDATES


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per row (default 5)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--datastores",
        default="memory,sqlite,dynamodb,postgres",
        help="comma-separated (dynamodb and postgres only when their servers can run here)",
    )
    parser.add_argument("--skip", default="", help="comma-separated: reference,table,servers,soak")
    parser.add_argument("--soak-requests", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="2 s rows, 20,000-request soak")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.seconds, args.soak_requests = 2.0, 20_000
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    wrk.wrk_binary()  # fail first, not after minutes, when wrk is missing
    print(report.header("kvstore bench"), flush=True)
    with tempfile.TemporaryDirectory(prefix="kvstore-bench-") as tmp:
        options = suite.Options(args.seconds, args.connections, Path(tmp))
        if "reference" not in skip:
            run_reference(options)
        if "table" not in skip:
            run_table(args.datastores, options)
        if "servers" not in skip:
            rows = suite.compare_servers(CANDIDATES, options)
            print("\nServers, same app on SQLite (the first row is the baseline):")
            print("\n".join(report.server_rows(rows)), flush=True)
            rows = suite.compare_servers(MEMORY_CANDIDATES, options, datastore="memory")
            print("\nServers with one process, same app on memory:")
            print("\n".join(report.server_rows(rows)), flush=True)
        if "soak" not in skip:
            result = suite.soak("sqlite", options, total=args.soak_requests)
            print()
            print("\n".join(report.soak_lines("sqlite", result)), flush=True)
    print(f"\nend: {report.machine()}")
    return 0


def run_reference(options: suite.Options) -> None:
    rows, missing = suite.compare_references(options)
    print(
        "\nReference: GET and PUT (replace) of 1,000 seeded keys, wrk"
        f" -t1 -c{options.connections}, medians of 3 interleaved rounds:"
    )
    if missing:
        print(f"etcd: skipped ({missing})")
    print("\n".join(report.reference_rows(rows)), flush=True)


def run_table(datastores: str, options: suite.Options) -> None:
    rows: list[suite.Row] = []
    for name in (d.strip() for d in datastores.split(",") if d.strip()):
        if name == "dynamodb":
            if not dynamo.available():
                print("dynamodb: skipped (no DynamoDB datastore or moto_server)", flush=True)
                continue
            with dynamo.moto_server(options.workdir) as endpoint:
                env = dynamo.service_env(endpoint)
                rows += suite.datastore_table(name, options, env)
                service_p50, moto_p50 = suite.interleaved_latency(
                    name, options, env, lambda: dynamo.getitem_latency_us(endpoint, "bench/0")[0]
                )
            print(
                f"dynamodb, one request in flight (medians of 3 interleaved rounds): service GET"
                f" p50 {service_p50 / 1000:.2f} ms; moto GetItem by a boto3 loop p50"
                f" {moto_p50 / 1000:.2f} ms; difference {(service_p50 - moto_p50) / 1000:+.2f} ms"
                " (target <= +1 ms)",
                flush=True,
            )
        elif name == "postgres":
            why = postgres.available()
            if why is not None:
                print(f"postgres: skipped ({why})", flush=True)
                continue
            with postgres.server() as env:
                rows += suite.datastore_table(name, options, env)
        else:
            rows += suite.datastore_table(name, options)
    print("\n" + "\n".join(report.datastore_rows(rows)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
