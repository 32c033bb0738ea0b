"""The command-line vocabulary every command shares (docs/CONTRIBUTING.md, "Command line").

* `<noun> <verb>`: `verbs(sub, noun, help)` gives a noun's verb table, created by the first
  module that adds a verb to it and shared by the others.
* Defaults live once, in the config dataclasses: `field_option(...)` adds an option whose
  default (and the "(default: X)" of its help) is read from a dataclass field, and records
  the field on the argparse action so a test can check every command against the code.
* One spelling per meaning (`-o/--output`, `--geom`, `-n/--n-frames`, `--min-peaks`,
  `--method`, `--workers`, `--address`, ...; see CONTRIBUTING); an old spelling stays for one
  release as a hidden alias that warns on stderr (`deprecated_alias`), and an old bare verb
  as a deprecated command (`DEPRECATED_COMMANDS`, rewritten by `peaknet_bench.cli`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from typing import Any

# old first words of a command line -> the words that replace them (for one release)
DEPRECATED_COMMANDS: dict[str, tuple[str, ...]] = {
    "simulate": ("sim", "run"),
    "index": ("index", "run"),
    "infer": ("infer", "run"),
    "evaluate": ("evaluate", "run"),
    "report": ("evaluate", "report"),
    "tune-pf8": ("peaks", "tune"),
    "regress": ("leaderboard", "regress"),
    "train": ("model", "train"),
    "distill": ("model", "distill"),
}


def warn(message: str) -> None:
    print(f"peaknet-bench: warning: {message}", file=sys.stderr)


def rewrite_deprecated_command(argv: list[str], nouns: dict[str, set[str]]) -> list[str]:
    """`argv` with an old bare verb replaced by its `<noun> <verb>` (and a warning); `nouns`
    maps each noun to its verbs, so `index run ...` is left alone while `index PEAKS.cxi ...`
    becomes `index run PEAKS.cxi ...`."""
    if not argv or argv[0] not in DEPRECATED_COMMANDS:
        return argv
    new = DEPRECATED_COMMANDS[argv[0]]
    rest = argv[1:]
    if argv[0] == new[0] and (not rest or rest[0] in nouns.get(new[0], set()) or rest[0] in ("-h", "--help")):
        return argv  # already the new grammar (or help of the noun)
    warn(f"`{argv[0]}` is deprecated; use `{' '.join(new)}`")
    return [*new, *rest]


# ---------------------------------------------------------------- grammar
def verbs(sub: argparse._SubParsersAction, noun: str, help: str) -> argparse._SubParsersAction:
    """The verb table of `noun` (a top-level command), created on first use; a noun run without
    a verb prints its help and exits 2."""
    parser = sub.choices.get(noun)
    if parser is None or getattr(parser, "verb_table", None) is None:
        parser = sub.add_parser(noun, help=help)
        parser.verb_table = parser.add_subparsers(dest="verb", metavar="VERB")
        parser.set_defaults(handler=lambda _args, p=parser: (p.print_help(), 2)[1])
    return parser.verb_table


# ---------------------------------------------------------------- defaults from dataclasses
def field_default(cls: type, name: str) -> Any:
    """The default of dataclass `cls`'s field `name` (the one definition of that default)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise ValueError(f"{cls.__name__}.{name} has no default")
    raise ValueError(f"{cls.__name__} has no field {name!r}")


def format_default(value: Any) -> str:
    """How a default reads in help: numbers as written in Python, sequences space-separated."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return " ".join(format_default(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def field_option(parser, flags: str | tuple[str, ...], cls: type, field: str, help: str, *,
                 overridable: bool = False, **kwargs: Any) -> argparse.Action:
    """An option that sets dataclass field `cls.field`; its default is that field's default,
    shown in the help as "(default: X)". With `overridable` the parsed default is None (a
    config file may then set the field; the help still shows the code's default).

    The action carries `.field = (cls, field)`, which tests/test_cli_vocabulary.py checks."""
    default = field_default(cls, field)
    flags = (flags,) if isinstance(flags, str) else flags
    if "type" not in kwargs and kwargs.get("action") is None and isinstance(default, (int, float)) \
            and not isinstance(default, bool):
        kwargs["type"] = type(default)
    text = f"{help} (default: {format_default(default)})".replace("%", "%%")
    action = parser.add_argument(*flags, default=None if overridable else default, help=text, **kwargs)
    action.field = (cls, field)
    return action


# ---------------------------------------------------------------- deprecated spellings
class _DeprecatedAlias(argparse.Action):
    def __init__(self, option_strings, dest, target: argparse.Action, convert=None, switch_value=None,
                 **kwargs) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.target, self.convert, self.switch_value = target, convert, switch_value

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        new = "/".join(self.target.option_strings) or self.target.dest
        if self.switch_value is not None:
            values = self.switch_value
            new += f" {values}"
        warn(f"{option_string} is deprecated; use {new}")
        if self.convert is not None:
            values = self.convert(values)
        self.target(parser, namespace, values, option_string)


def deprecated_alias(parser, target: argparse.Action, *old_flags: str,
                     convert: Callable[[Any], Any] | None = None, switch_value: Any = None) -> argparse.Action:
    """Keep `old_flags` working (for one release) as a hidden alias of `target` that warns on
    stderr; `convert` maps an old value onto the new meaning; with `switch_value` the old flag
    is a switch that sets `target` to that value (`--onnx` for `--backend onnx`)."""
    kwargs: dict[str, Any] = {"nargs": 0 if switch_value is not None else target.nargs, "metavar": target.metavar}
    if kwargs["nargs"] != 0:
        kwargs.update(type=target.type, choices=target.choices)
    return parser.add_argument(*old_flags, action=_DeprecatedAlias, dest=target.dest, target=target, convert=convert,
                               switch_value=switch_value, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


# ---------------------------------------------------------------- shared flags
def add_json(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")


def add_output(parser, default: str | None, help: str, *old_flags: str, required: bool = False) -> argparse.Action:
    """-o/--output (every command that writes a file or a folder); `old_flags` stay as aliases."""
    shown = " (required)" if required else "" if default is None else f" (default: {default})"
    # argparse cannot see an alias as the required option given: then the handler checks
    # (`require_output`).
    action = parser.add_argument("-o", "--output", default=default, required=required and not old_flags,
                                 help=help + shown)
    if old_flags:
        deprecated_alias(parser, action, *old_flags)
    return action


def require_output(args) -> str:
    """The required -o/--output (given as itself or as a deprecated alias)."""
    if getattr(args, "output", None) is None:
        from peaknet_bench.errors import InputError

        raise InputError(None, "-o/--output", "required: where to write the result")
    return args.output


def add_n_frames(parser, default: int | None, help: str, *old_flags: str, convert=None,
                 none_means: str = "all") -> argparse.Action:
    """-n/--n-frames: how many frames (None: all of the input, or what `none_means` says)."""
    shown = none_means if default is None else str(default)
    action = parser.add_argument("-n", "--n-frames", type=int, default=default, metavar="N",
                                 help=f"{help} (default: {shown})")
    if old_flags:
        deprecated_alias(parser, action, *old_flags, convert=convert)
    return action


def add_address(parser) -> None:
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join (auto, or ray://host:10001) (default: start a local Ray)")
