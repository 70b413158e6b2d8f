"""Every option of every ``thermalink`` command has a help text that shows its default; ``--version``."""

from __future__ import annotations

import argparse
from importlib.metadata import version

import pytest

from thermalink.experiments.cli import _all_parsers, build_parser, main

_NO_HELP_NEEDED = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)


def _options():
    for parser in _all_parsers(build_parser()):
        for action in parser._actions:
            if not isinstance(action, _NO_HELP_NEEDED):
                yield parser, action


def test_every_option_has_a_help_text():
    missing = [f"{parser.prog} {action.option_strings or action.dest}" for parser, action in _options()
               if not (action.help or "").strip()]
    assert not missing, missing


def test_every_default_shows_in_the_help():
    hidden = []
    for parser, action in _options():
        default = action.default
        if default is None or isinstance(default, bool) or default == []:
            continue  # switches, repeatable options and "not given" say in words what happens
        shown = parser._get_formatter()._get_help_string(action) if action.help else ""
        if "default" not in shown:
            hidden.append(f"{parser.prog} {action.option_strings or action.dest}: {shown!r} (default {default!r})")
    assert not hidden, "\n".join(hidden)


def test_the_rendered_help_of_run_shows_defaults():
    run = next(p for p in _all_parsers(build_parser()) if p.prog.endswith(" run"))
    text = " ".join(run.format_help().split())
    assert "shots per tomography setting (default: 2000)" in text
    assert "--bootstrap" in text and "(default: 200)" in text


def test_version_is_the_installed_one(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"thermalink {version('thermalink')}"


def test_the_program_returns_the_commands_exit_code_and_exits_with_the_heap_frozen(monkeypatch):
    import gc
    from importlib.metadata import entry_points

    import thermalink.experiments.cli as cli

    (program,) = [e for e in entry_points(group="console_scripts") if e.name == "thermalink"]
    assert program.value == "thermalink.experiments.cli:console_main"
    monkeypatch.setattr(cli, "main", lambda: 3)
    try:
        assert cli.console_main() == 3
        assert gc.get_freeze_count() > 0  # the exit's collections skip what the command left
    finally:
        gc.unfreeze()
