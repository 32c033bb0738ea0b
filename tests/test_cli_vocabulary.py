"""One command-line vocabulary (docs/CONTRIBUTING.md, "Command line"): every subcommand's
defaults are the code's, the same thing has the same flag everywhere, the grammar is
`<noun> <verb>`, and old spellings still work with a warning."""

from __future__ import annotations

import argparse
import re

import pytest

from peaknet_bench.cli import build_parser, main
from peaknet_bench.frame import HIT_MIN_PEAKS
from peaknet_bench.util.cli import DEPRECATED_COMMANDS, field_default, format_default


def _commands(parser: argparse.ArgumentParser, prefix=()):
    """(words, parser) of every leaf command."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
        return
    for name, p in subs[0].choices.items():
        yield from _commands(p, (*prefix, name))


COMMANDS = list(_commands(build_parser()))
IDS = [" ".join(words) for words, _ in COMMANDS]


def _visible(parser):
    return [a for a in parser._actions if a.help != argparse.SUPPRESS and a.option_strings]


def test_every_command_is_a_noun_and_a_verb():
    bare = sorted({words[0] for words, _ in COMMANDS if len(words) == 1})
    assert bare == ["quickstart"], bare  # the tour `make demo` runs is the one bare command


@pytest.mark.parametrize("words,parser", COMMANDS, ids=IDS)
def test_defaults_in_help_are_the_code_defaults(words, parser):
    for action in parser._actions:
        field = getattr(action, "field", None)
        if field is not None:
            cls, name = field
            code = field_default(cls, name)
            if action.default is not None:
                assert action.default == code, f"{action.option_strings}: argparse {action.default!r}, {cls.__name__}.{name} {code!r}"
            assert f"(default: {format_default(code)})" in action.help, (action.option_strings, action.help)
        # Whatever the option, a number the help calls the default is the parsed default.
        shown = re.search(r"\(default:? ([-+0-9.e]+)[;)]", action.help or "")
        if shown and isinstance(action.default, (int, float)) and not isinstance(action.default, bool):
            assert float(shown.group(1)) == float(action.default), (words, action.option_strings, action.help)


@pytest.mark.parametrize("words,parser", COMMANDS, ids=IDS)
def test_one_spelling_per_meaning(words, parser):
    flags = {s for a in _visible(parser) for s in a.option_strings}
    retired = {"--out", "--outdir", "--geometry", "--max-frames", "--limit", "--hit-min-peaks", "--num-cpus",
               "--pf8-threshold", "--pf8-min-snr", "--simulate", "--onnx", "--method-name"}
    assert not flags & retired, f"{' '.join(words)} shows retired flags {sorted(flags & retired)}"
    for a in _visible(parser):
        if "-o" in a.option_strings:
            assert a.option_strings == ["-o", "--output"], a.option_strings
        if "-n" in a.option_strings:
            assert a.option_strings == ["-n", "--n-frames"], a.option_strings
        if "--min-peaks" in a.option_strings and a.default is not None:
            assert a.default == HIT_MIN_PEAKS, (words, a.default)


def test_deprecated_flag_still_works_and_warns(capsys):
    parser = build_parser()
    args = parser.parse_args(["sim", "run", "x", "--frames", "3"])
    assert args.n_frames == 3
    assert "--frames is deprecated" in capsys.readouterr().err
    args = parser.parse_args(["peaks", "find", "a.cxi", "--max-frames", "0"])
    assert args.n_frames is None  # 0 meant all
    args = parser.parse_args(["model", "export", "w.safetensors", "--onnx", "w.onnx"])
    assert args.output == "w.onnx"
    assert "use -o/--output" in capsys.readouterr().err


@pytest.mark.parametrize("old", sorted(DEPRECATED_COMMANDS))
def test_old_bare_verbs_still_parse(old, capsys):
    from peaknet_bench.cli import _nouns
    from peaknet_bench.util.cli import rewrite_deprecated_command

    parser = build_parser()
    argv = rewrite_deprecated_command([old, "ARG"], _nouns(parser))
    assert argv[:2] == list(DEPRECATED_COMMANDS[old])
    assert "deprecated" in capsys.readouterr().err
    assert rewrite_deprecated_command([*DEPRECATED_COMMANDS[old], "ARG"], _nouns(parser))[:2] == list(DEPRECATED_COMMANDS[old])


def test_help_of_every_command_renders(capsys):
    for words, _ in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([*words, "--help"])
        assert exc.value.code == 0, words
    capsys.readouterr()


def test_infer_runs_models_and_says_so_for_other_finders(tmp_path, capsys):
    assert main(["infer", "run", "--method", "pf8", "--experiment", "epix10k-lysozyme", "-n", "1",
                 "-o", str(tmp_path / "o")]) == 1
    assert "infer run runs models" in capsys.readouterr().err
