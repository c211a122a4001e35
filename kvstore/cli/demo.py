"""`kvstore demo`: the asynchronous-handling demo (`python -m kvstore.demo`) as a subcommand."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from kvstore.demo import add_arguments

    parser = subparsers.add_parser(
        "demo",
        help="show simultaneous and chained calls against a server",
        description=(
            "Seed `sports`, read keys simultaneously, then read `sports` and chain reads of "
            "each sport's key; print the compiled results and the timings that show overlap. "
            "The calls run on threads, or with --asyncio from asyncio tasks. Without --url it "
            "starts the service in-process (memory datastore)."
        ),
        epilog="Example: kvstore demo --asyncio --url http://127.0.0.1:5000",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kvstore.demo import run_with_args

    return run_with_args(args)
