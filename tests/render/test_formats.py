"""The FORMATS registry: the CLI's --format choice and render() come from it."""

from __future__ import annotations

import click

from selvsync.cli import cli
from selvsync.plan.actions import Action
from selvsync.plan.changes import Change, EnvironmentPlan, Plan
from selvsync.render import FORMATS, render, render_json, render_markdown, render_text


def _plan() -> Plan:
    env = EnvironmentPlan("test", changes=[Change("test", "app", Action.DEACTIVATE, "id-1")])
    return Plan("991825827", "minside", [env])


def test_the_cli_format_choice_is_the_registry() -> None:
    command = cli.commands["plan"]
    (option,) = [p for p in command.params if p.name == "fmt"]
    assert isinstance(option.type, click.Choice)
    assert list(option.type.choices) == list(FORMATS)


def test_render_dispatches_to_the_registered_renderer() -> None:
    plan = _plan()
    assert render(plan, "text", color=True) == render_text(plan, color=True)
    assert render(plan, "json") == render_json(plan)
    assert render(plan, "markdown", json_hint="see x") == render_markdown(plan, json_hint="see x")
    assert set(FORMATS) == {"text", "json", "markdown"}
    assert all(f.extension.startswith(".") and "/" in f.media_type for f in FORMATS.values())
