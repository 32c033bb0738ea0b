"""The `peaknet-bench` command: `peaknet-bench <noun> <verb> [options]`.

Each concept folder defines its sub-commands in its own `commands.py` with a
`register(subparsers)` function; this file only wires them together. Handlers import
their heavy dependencies (torch, ray) lazily so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from peaknet_bench import __version__
from peaknet_bench.errors import InputError

# Modules that contribute sub-commands, in the order they appear in --help.
COMMAND_MODULES = [
    "peaknet_bench.quickstart",
    "peaknet_bench.io.commands",
    "peaknet_bench.sim.commands",
    "peaknet_bench.peakfind.commands",
    "peaknet_bench.index.commands",
    "peaknet_bench.data.commands",
    "peaknet_bench.models.commands",
    "peaknet_bench.train.commands",
    "peaknet_bench.engine.commands",
    "peaknet_bench.simcompare.commands",
    "peaknet_bench.infer.commands",
    "peaknet_bench.evaluate.commands",
    "peaknet_bench.leaderboard.commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peaknet-bench",
        description=(
            "Dataset, benchmark and reference pipeline for Bragg peak finding in serial "
            "crystallography. Progress and logs go to stderr; results to stdout "
            "(one JSON object with --json)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"peaknet-bench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _nouns(parser: argparse.ArgumentParser) -> dict[str, set[str]]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: set(p.verb_table.choices) for name, p in sub.choices.items() if getattr(p, "verb_table", None)}


def main(argv: list[str] | None = None) -> int:
    from peaknet_bench.util.cli import rewrite_deprecated_command

    parser = build_parser()
    argv = rewrite_deprecated_command(list(sys.argv[1:] if argv is None else argv), _nouns(parser))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except InputError as exc:
        print(f"peaknet-bench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("peaknet-bench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _interrupted(exc):
            raise
        print("peaknet-bench: interrupted", file=sys.stderr)
        return 130


def _interrupted(exc: BaseException) -> bool:
    """Whether Ctrl-C caused `exc`: a KeyboardInterrupt that arrives while compiled code (numba,
    a C extension) runs surfaces as a SystemError ("returned a result with an exception
    set") or another error whose cause or context is the KeyboardInterrupt."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


if __name__ == "__main__":
    sys.exit(main())
