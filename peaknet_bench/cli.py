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
    for old, (noun, verb) in (("train", ("model", "train")), ("distill", ("model", "distill"))):
        _adopt_bare_verb(sub, old, noun, verb)
    return parser


def _adopt_bare_verb(sub: argparse._SubParsersAction, old: str, noun: str, verb: str) -> None:
    """Offer a bare verb that a module still registers at the top (train/commands.py: `train`,
    `distill`) as `<noun> <verb>`, with the same options and handler; the old spelling goes on
    working through DEPRECATED_COMMANDS."""
    from peaknet_bench.util.cli import verbs

    legacy = sub.choices.pop(old, None)
    if legacy is None:
        return
    entry = next(a for a in sub._choices_actions if a.dest == old)
    sub._choices_actions.remove(entry)
    child = verbs(sub, noun, help="").add_parser(verb, parents=[legacy], add_help=False, help=entry.help,
                                                 description=legacy.description)
    _respell(child, "--out", ("-o", "--output"))


def _respell(parser: argparse.ArgumentParser, old: str, new: tuple[str, ...]) -> None:
    """Give the option `old` the vocabulary's spelling `new`; `old` stays as a deprecated alias."""
    from peaknet_bench.util.cli import deprecated_alias

    action = parser._option_string_actions.get(old)
    if action is None:
        return
    for flag in action.option_strings:
        del parser._option_string_actions[flag]
    action.option_strings = list(new)
    for flag in new:
        parser._option_string_actions[flag] = action
    deprecated_alias(parser, action, old)


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
