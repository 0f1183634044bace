"""The README's "Command line" block against run_sim.py's argument parser, both ways, so neither drifts: every
subcommand and every option a person can type is listed on its subcommand's line, and every option listed exists."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import run_sim

README = Path(__file__).resolve().parent.parent / "README.md"


def _command_block() -> dict[str, str]:
    """Subcommand -> its README lines joined ('' for the bare `python run_sim.py`), from the block under
    '## Command line'."""
    text = README.read_text(encoding="utf-8").split("## Command line", 1)[1]
    block = text.split("```", 2)[1]
    forms: dict[str, str] = {}
    for line in block.splitlines():
        if not line.startswith("python run_sim.py"):
            continue
        usage = line.split("#", 1)[0].split()[2:]
        name = usage[0] if usage and not usage[0].startswith(("[", "-")) else ""
        forms[name] = forms.get(name, "") + " " + " ".join(usage[1:] if name else usage)
    return forms


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = run_sim._build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options a person is told about: not --help, not the hidden ones."""
    return [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS
            and not isinstance(a, argparse._HelpAction)]


def test_the_readme_lists_every_subcommand_and_nothing_else():
    listed = set(_command_block()) - {""}
    assert listed == set(_subcommands()), f"README lists {sorted(listed)}, run_sim.py has {sorted(_subcommands())}"


def test_every_option_of_every_subcommand_is_on_its_readme_line_with_its_choices():
    forms = _command_block()
    missing = []
    for name, parser in _subcommands().items():
        words = forms.get(name, "")
        for action in _options(parser):
            if not any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", words) for o in action.option_strings):
                missing.append(f"{name} {action.option_strings[-1]}")
            elif action.choices and "|".join(map(str, action.choices)) not in words:
                missing.append(f"{name} {action.option_strings[-1]} {'|'.join(map(str, action.choices))}")
    assert not missing, f"README's Command line block lacks: {', '.join(missing)}"


def test_every_option_on_a_readme_line_exists_in_the_parser():
    subcommands = _subcommands()
    made_up = []
    for name, words in _command_block().items():
        parser = subcommands.get(name or "run")  # the bare command runs `run`
        known = {o for a in _options(parser) for o in a.option_strings}
        made_up += [f"{name or '(none)'} {o}" for o in re.findall(r"(?<![\w-])--?[a-z][a-z-]*", words) if o not in known]
    assert not made_up, f"README's Command line block lists options run_sim.py does not have: {', '.join(made_up)}"
