"""The README matches the code: its two commands, configuration table and CLI commands."""

import re
from pathlib import Path

from click.testing import CliRunner

from carnet_core.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_is_exactly_make_run_then_make_test():
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quick, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_configuration_table_lists_every_variable_the_settings_read():
    source = (ROOT / "core/src/carnet_core/settings.py").read_text()
    read = set(re.findall(r'env\.get\("(CARNET_[A-Z_]+)"\)', source))
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(CARNET_[A-Z_]+)`", table, re.M))
    assert read - documented == set(), "undocumented variables"
    assert documented - read == set(), "documented variables the code does not read"


def test_every_command_in_the_readme_exists():
    commands = set(re.findall(r"`carnet ([a-z]+(?: [a-z]+)?)", README))
    assert commands
    runner = CliRunner()
    for command in sorted(commands):
        words = command.split()
        result = runner.invoke(main, [*words, "--help"])
        if result.exit_code != 0 and len(words) == 2:  # "carnet serve [--host]" style: one word
            result = runner.invoke(main, [words[0], "--help"])
        assert result.exit_code == 0, f"`carnet {command}` does not exist: {result.output}"
