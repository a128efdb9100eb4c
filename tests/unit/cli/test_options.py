"""CLI options come from the config dataclasses: every field is an option, with the field's
default and docstring, and the command receives the built config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest
import typer
from typer.testing import CliRunner

from plmkit.cli.options import Flag, config_options, field_docs
from plmkit.config import FinetuneConfig, GenerateConfig, PretrainConfig


@dataclass
class Toy:
    """A config for the test."""

    rate: float = 0.5
    """How fast; see also max_steps."""
    max_steps: int | None = None
    """Stop after this many steps."""
    column: str | None = "label"
    """A column that "" turns off."""
    fast: bool | None = None
    """Go fast."""
    tags: list[str] = field(default_factory=list)
    """Repeatable."""


def _run(*args: str) -> Toy:
    seen: list[Toy] = []
    app = typer.Typer()

    @app.command()
    @config_options(Toy, flags={"fast": Flag(("--fast/--slow",)), "tags": Flag(("--tag",))})
    def toy(name: str, *, config: Toy) -> None:
        assert name == "x"
        seen.append(config)

    result = CliRunner().invoke(app, ["x", *args])
    assert result.exit_code == 0, result.output
    return seen[0]


def test_defaults_come_from_the_dataclass():
    assert _run() == Toy()


def test_every_kind_of_field_parses():
    config = _run(
        "--rate", "0.1", "--max-steps", "7", "--column", "", "--slow", "--tag", "a", "--tag", "b"
    )
    assert config == Toy(rate=0.1, max_steps=7, column=None, fast=False, tags=["a", "b"])


def test_help_is_the_field_docstring_with_flag_names():
    docs = field_docs(Toy)
    assert docs["rate"] == "How fast; see also --max-steps."
    assert docs["max_steps"] == "Stop after this many steps."


def _options_of(command: str) -> set[str]:
    from typer.main import get_command

    from plmkit.cli import app

    click_command = get_command(app).commands[command]  # type: ignore[attr-defined]
    return {param.name for param in click_command.params}


@pytest.mark.parametrize(
    ("command", "config_cls", "not_on_cli"),
    [
        ("finetune", FinetuneConfig, set()),
        ("pretrain", PretrainConfig, {"show_progress"}),
        ("generate", GenerateConfig, set()),
    ],
)
def test_every_config_field_is_reachable_from_the_cli(command, config_cls, not_on_cli):
    fields = {f.name for f in dataclasses.fields(config_cls)} - not_on_cli
    assert fields <= _options_of(command)


def test_every_config_field_is_documented():
    for config_cls in (FinetuneConfig, PretrainConfig, GenerateConfig):
        missing = {f.name for f in dataclasses.fields(config_cls)} - set(field_docs(config_cls))
        assert not missing, (config_cls.__name__, missing)
