"""``packshot models ...``: list the registered models and install their weights.

The main CLI mounts this with ``app.add_typer(models_app, name="models")``. Commands only
parse arguments and call :mod:`packshot.models`; every failure is a
:class:`~packshot.errors.PackshotError` printed as its message (no traceback) with its
``exit_code``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from packshot import models
from packshot.cli.errors import fail, print_error
from packshot.errors import ModelError, PackshotError

__all__ = ["models_app"]

models_app = typer.Typer(
    help="List the registered models and install their weights.",
    no_args_is_help=True,
)


def _stdout() -> Console:
    return Console()


def _stderr() -> Console:
    return Console(stderr=True)


def _installed_state(spec: models.ModelSpec) -> tuple[bool, str, Path | None]:
    """(installed, label for the table, path)."""
    try:
        path = models.installed_path(spec.name)
    except ModelError as exc:
        # Typically a PACKSHOT_MODEL_PATH_* pointing nowhere: show it, don't abort the list.
        return False, f"no ({exc})", None
    if path is None:
        return False, "no", None
    if path.parent != models.models_dir() or path.name != spec.filename:
        return True, f"yes ({spec.override_env})", path
    return True, "yes", path


def _plain(value: Any) -> Any:
    """io tables are read-only mappings/tuples; JSON wants dicts/lists."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@models_app.command("list")
def list_models(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
    task: Annotated[str | None, typer.Option("--task", help="Only models for this task.")] = None,
) -> None:
    """List registered models: task, size, licence and whether they are installed."""
    try:
        # Sample photos share the registry's verified cache but are not models: listed
        # only when asked for by task (`packshot samples` fetches them).
        specs = [s for s in models.list_specs(task) if task or s.task != "sample-photo"]
        rows = [(spec, *_installed_state(spec)) for spec in specs]
    except PackshotError as exc:
        raise fail(exc) from None

    if json_output:
        data = [
            {
                "name": spec.name,
                "task": spec.task,
                "default_for": spec.default_for,
                "licence": spec.licence,
                "opt_in": spec.opt_in,
                "size": spec.size,
                "sha256": spec.sha256,
                "description": spec.description,
                "installed": installed,
                "path": str(path) if path else None,
                "sources": [source.describe() for source in spec.sources],
                "io": _plain(spec.io),
            }
            for spec, installed, _label, path in rows
        ]
        typer.echo(json.dumps(data, indent=2))
        return

    table = Table(title=f"packshot models (cache: {models.models_dir()})", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("task")
    table.add_column("size (MB)", justify="right")
    table.add_column("licence")
    table.add_column("installed")
    for spec, installed, label, _path in rows:
        task_text = spec.task + (" (default)" if spec.default_for == spec.task else "")
        licence = spec.licence + (" (opt-in)" if spec.opt_in else "")
        table.add_row(
            spec.name,
            task_text,
            _megabytes(spec.size),
            licence,
            label,
            style=None if installed else "dim",
        )
    _stdout().print(table)


@models_app.command("install")
def install_models(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Models to install (default: the default model of every task).",
            show_default=False,
        ),
    ] = None,
    all_models: Annotated[
        bool, typer.Option("--all", help="Install every registered model, opt-in ones too.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Fetch again even when already installed.")
    ] = False,
) -> None:
    """Fetch, verify (SHA-256) and cache model weights."""
    try:
        if all_models:
            specs = models.list_specs()
        elif names:
            specs = [models.get_spec(name) for name in dict.fromkeys(names)]
        else:
            specs = [spec for spec in models.list_specs() if spec.default_for]
    except PackshotError as exc:
        raise fail(exc) from None

    err = _stderr()
    failures: list[PackshotError] = []
    if err.is_terminal:
        with _progress(err) as progress:
            for spec in specs:
                task_id = progress.add_task("", total=spec.size, model=spec.name)

                def update(done: int, total: int, stage: str, _task: TaskID = task_id) -> None:
                    progress.update(_task, completed=done, total=total, description=stage)

                try:
                    path = models.install(spec.name, update, force=force)
                except PackshotError as exc:
                    progress.update(task_id, description="failed")
                    failures.append(exc)
                    continue
                progress.update(task_id, completed=spec.size, description=f"ok {path}")
    else:
        # Logs and CI: one line per model rather than a redrawn bar.
        for spec in specs:
            try:
                path = models.install(spec.name, force=force)
            except PackshotError as exc:
                err.print(f"{spec.name}: failed", markup=False, highlight=False)
                failures.append(exc)
                continue
            err.print(f"{spec.name}: ok {path}", markup=False, highlight=False, soft_wrap=True)

    for failure in failures:
        print_error(failure)
    if failures:
        raise typer.Exit(code=max(failure.exit_code for failure in failures))


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.fields[model]:<24}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}", markup=False),
        console=console,
    )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f}" if size >= 100_000 else f"{size / 1e6:.3f}"
