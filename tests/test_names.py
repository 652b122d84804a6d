"""One name per operation on every surface: ``packshot --help``, ``GET /v1/solutions``,
recipe steps and report fields; former CLI and step names still work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from packshot.cli import app
from packshot.pipeline.steps import StepCall, apply_steps, step_names
from servicekit import new_key, running_server, settings_for

# Commands that are not an operation on an image: the tools around them.
TOOLS = {"run", "samples", "models", "presets", "serve", "keys"}


def cli_commands() -> dict[str, Any]:
    """``packshot``'s subcommands by name (hidden ones too)."""
    return dict(typer.main.get_command(app).commands)


def visible_commands() -> set[str]:
    return {name for name, cmd in cli_commands().items() if not cmd.hidden}


@pytest.fixture(scope="module")
def api_solutions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    settings = settings_for(tmp_path_factory.mktemp("names"))
    key = new_key(settings)
    with running_server(settings) as base:
        r = httpx.get(f"{base}/v1/solutions", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        yield {s["name"] for s in r.json()["solutions"]}


def test_the_cli_the_api_and_recipes_call_an_operation_the_same(api_solutions: set[str]) -> None:
    cli = visible_commands() - TOOLS
    steps = set(step_names())
    # A recipe step is an operation of the command line and of the API, under one name.
    assert steps <= cli, steps - cli
    assert steps <= api_solutions, steps - api_solutions
    # Every command is a solution, and every solution a command but the two the command
    # line makes with `listing --market` (a preset frames, recolours or resizes).
    assert cli <= api_solutions, cli - api_solutions
    assert api_solutions - cli == {"background-color-fix", "smart-resize"}


def test_every_surface_takes_its_names_from_the_operations_table(
    api_solutions: set[str],
) -> None:
    from packshot.cost import HOSTED_PRICES
    from packshot.operations import OPERATIONS
    from packshot.service.jobs import HOSTED_OPERATIONS

    assert visible_commands() - TOOLS == {n for n, op in OPERATIONS.items() if op.cli}
    assert api_solutions == {n for n, op in OPERATIONS.items() if op.api}
    assert set(step_names()) == {n for n, op in OPERATIONS.items() if op.step}
    # Report fields: a cost's "operations" and the hosted operation of each solution.
    assert set(HOSTED_PRICES) <= set(OPERATIONS)
    for solution, operations in HOSTED_OPERATIONS.items():
        assert solution in api_solutions and set(operations) <= set(OPERATIONS)
    # A former name is never a current one, and names no other operation.
    aliases = [a for op in OPERATIONS.values() for a in op.aliases]
    assert len(aliases) == len(set(aliases)) and not set(aliases) & set(OPERATIONS)


def test_a_step_reports_its_operation_name_under_a_former_name_too() -> None:
    rgb = np.full((60, 80, 3), 200, np.uint8)
    rgb[20:30, 30:40] = (20, 40, 200)
    for written in ("object-removal", "remove"):
        _, infos = apply_steps(rgb, [StepCall(written, {"box": [28, 18, 14, 14]})])
        assert infos[0]["step"] == "object-removal"


def test_former_command_names_still_run_hidden_with_a_note(tmp_path: Path) -> None:
    from packshot.operations import OPERATIONS

    commands = cli_commands()
    for op in OPERATIONS.values():
        for alias in op.aliases:
            assert commands[alias].hidden, alias
            assert commands[alias].help == commands[op.name].help
    image = tmp_path / "plain.png"
    pixels = np.full((120, 120, 3), 255, np.uint8)
    pixels[30:90, 40:80] = (30, 60, 120)
    Image.fromarray(pixels).save(image)
    runner = CliRunner()
    now = runner.invoke(app, ["sentinel", str(image), "--no-ocr", "--json"])
    before = runner.invoke(app, ["check", str(image), "--no-ocr", "--json"])
    assert now.exit_code == before.exit_code

    def verdicts(stdout: str) -> list[dict[str, Any]]:
        images = json.loads(stdout)["images"]
        return [{k: v for k, v in doc.items() if k != "seconds"} for doc in images]

    assert verdicts(now.stdout) == verdicts(before.stdout)
    assert "note:" not in now.stderr
    assert "`packshot check` is now `packshot sentinel`" in before.stderr
