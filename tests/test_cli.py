"""The ``packshot`` command: exit codes, messages and outputs, with the real u2netp model."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from packshot import __version__
from packshot.cli import app
from packshot.models.registry import MODELS_DIR_ENV

if TYPE_CHECKING:
    from conftest import ProductPhoto

TEST_MODEL = "u2netp"
PACKSHOT = Path(sys.executable).with_name("packshot")


@pytest.fixture
def photo(photo_factory: Callable[..., ProductPhoto]) -> ProductPhoto:
    return photo_factory(240, 320, seed=2)


def invoke(*args: str, columns: int | None = None) -> Result:
    env = {"COLUMNS": str(columns)} if columns else {}
    return CliRunner().invoke(app, list(args), env=env)


def flat(text: str) -> str:
    return " ".join(text.split())


def lines(text: str) -> list[str]:
    """Output lines; messages must never be hard-wrapped (paths stay greppable in logs)."""
    return [line.rstrip() for line in text.splitlines()]


def assert_no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"packshot {__version__}"


def test_models_list_shows_u2net_and_its_licence(real_models: Path) -> None:
    result = invoke("models", "list", columns=200)
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if "│" in line[:2]}
    assert "Apache-2.0" in rows["u2net"]
    assert "salient-segmentation (default)" in rows["u2net"]
    assert "Apache-2.0" in rows["u2netp"]
    assert "yes" in rows["u2netp"]  # installed in the shared cache
    assert "AGPL-3.0 (opt-in)" in rows["isnet"]


@pytest.mark.usefixtures("real_models")
def test_cutout_all_ok_exits_0(tmp_path: Path, photo: ProductPhoto) -> None:
    src = photo.save_jpeg(tmp_path / "bottle.jpg")
    out = tmp_path / "out"
    result = invoke("background-removal", str(src), "--out", str(out), "--model", TEST_MODEL)
    assert result.exit_code == 0, result.output
    assert_no_traceback(result)
    assert "1 written, 0 failed" in flat(result.stdout)
    with Image.open(out / "bottle.png") as im:
        assert im.mode == "RGBA" and im.size == (240, 320)
        alpha = np.asarray(im)[..., 3]
    assert alpha[photo.mask].mean() > 240 and alpha[:30, :30].max() == 0


@pytest.mark.usefixtures("real_models")
def test_cutout_some_failed_exits_1_with_reasons(tmp_path: Path, photo: ProductPhoto) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    photo.save_jpeg(folder / "good.jpg")
    (folder / "notes.png").write_text("not an image\n")
    (folder / "empty.jpg").write_bytes(b"")
    out = tmp_path / "out"

    result = invoke("background-removal", str(folder), "--out", str(out), "-m", TEST_MODEL)

    assert result.exit_code == 1, result.output
    assert_no_traceback(result)
    errors = lines(result.stderr)
    assert f"failed: {folder / 'notes.png'}: not an image (unrecognised format)" in errors
    assert f"failed: {folder / 'empty.jpg'}: file is empty (0 bytes)" in errors
    assert "1 written, 2 failed" in flat(result.stdout)
    assert sorted(p.name for p in out.iterdir()) == ["good.png"]


@pytest.mark.slow
@pytest.mark.usefixtures("real_models")
def test_cutout_workers_run_the_same_batch(
    tmp_path: Path, photo_factory: Callable[..., ProductPhoto]
) -> None:
    # background-removal runs its images through the listing's back-end: two worker
    # processes write the very files one process does, and a bad file still fails alone.
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(3):
        photo_factory(160, 200, seed=seed).save_jpeg(folder / f"p{seed}.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    outputs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out-{workers}"
        result = invoke("background-removal", str(folder), "-o", str(out), "-m", TEST_MODEL,
                        "-j", workers, "-q")  # fmt: skip
        assert result.exit_code == 1, result.output
        assert f"failed: {folder / 'empty.jpg'}: file is empty (0 bytes)" in lines(result.stderr)
        outputs[workers] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert sorted(outputs["1"]) == ["p0.png", "p1.png", "p2.png"]
    assert outputs["1"] == outputs["2"]


@pytest.mark.usefixtures("real_models")
def test_failure_message_keeps_brackets_in_file_names(tmp_path: Path) -> None:
    # Shop exports name files "shirt [blue].jpg"; the message must name the file as it is,
    # not read "[blue]" as console markup (or crash on "[/...]").
    folder = tmp_path / "in ["
    (folder / "x]").mkdir(parents=True)
    bad = folder / "x]" / "shirt [blue].jpg"  # ".../in [/x]/shirt [blue].jpg"
    bad.write_bytes(b"")
    result = invoke(
        "background-removal", str(folder), "--out", str(tmp_path / "out"), "-m", TEST_MODEL
    )
    assert result.exit_code == 1, result.output
    assert_no_traceback(result)
    assert f"failed: {bad}: file is empty (0 bytes)" in lines(result.stderr)


def test_missing_path_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    gone = tmp_path / "nowhere.jpg"
    result = invoke(
        "background-removal", str(gone), "--out", str(tmp_path / "out"), "-m", TEST_MODEL
    )
    assert result.exit_code == 2, result.output
    assert_no_traceback(result)
    assert f"error: {gone}: no such file or directory" in lines(result.stderr)
    assert not (tmp_path / "out").exists()


def test_unknown_model_exits_2(tmp_path: Path, photo: ProductPhoto) -> None:
    src = photo.save_jpeg(tmp_path / "bottle.jpg")
    result = invoke("background-removal", str(src), "--out", str(tmp_path / "out"), "-m", "u2netq")
    assert result.exit_code == 2, result.output
    assert_no_traceback(result)
    assert "Unknown model 'u2netq'" in flat(result.stderr)
    assert "Did you mean" in result.stderr


@pytest.mark.usefixtures("real_models")
def test_mask_only_writes_a_grey_png(tmp_path: Path, photo: ProductPhoto) -> None:
    src = photo.save_jpeg(tmp_path / "bottle.jpg")
    out = tmp_path / "masks"
    result = invoke(
        "background-removal",
        str(src),
        "--out",
        str(out),
        "-m",
        TEST_MODEL,
        "--mask-only",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # --quiet
    with Image.open(out / "bottle.png") as im:
        assert im.mode == "L" and im.size == (240, 320)
        mask = np.asarray(im)
    assert mask.ndim == 2 and mask.dtype == np.uint8
    assert mask[photo.mask].mean() > 240 and mask[:30, :30].max() == 0


@pytest.mark.usefixtures("real_models")
def test_no_refine_runs_the_raw_model(tmp_path: Path, photo: ProductPhoto) -> None:
    src = photo.save_jpeg(tmp_path / "bottle.jpg")
    out = tmp_path / "raw"
    result = invoke("background-removal", str(src), "-o", str(out), "-m", TEST_MODEL, "--no-refine")
    assert result.exit_code == 0, result.output
    with Image.open(out / "bottle.png") as im:
        rgba = np.asarray(im)
    # Unrefined output keeps the photo's colours everywhere (no decontamination).
    decoded = np.asarray(Image.open(src).convert("RGB"))
    np.testing.assert_array_equal(rgba[..., :3], decoded)


def test_installed_command_end_to_end(
    tmp_path: Path, photo: ProductPhoto, real_models: Path
) -> None:
    """The real console script in a subprocess: exit codes and clean stderr."""
    if not PACKSHOT.is_file():
        pytest.skip(f"no console script at {PACKSHOT}")
    folder = tmp_path / "in"
    folder.mkdir()
    photo.save_jpeg(folder / "good.jpg")
    jpeg = (folder / "good.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    env = {**os.environ, MODELS_DIR_ENV: str(real_models)}
    out = tmp_path / "out"

    done = subprocess.run(
        [str(PACKSHOT), "cutout", str(folder), "--out", str(out), "--model", TEST_MODEL],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert any(
        line.startswith(f"failed: {folder / 'truncated.jpg'}: image data is truncated")
        for line in lines(done.stderr)
    ), done.stderr
    assert (out / "good.png").is_file() and not (out / "truncated.png").exists()

    missing = subprocess.run(
        [str(PACKSHOT), "cutout", str(tmp_path / "gone"), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
    assert f"error: {tmp_path / 'gone'}: no such file or directory" in lines(missing.stderr)


def test_cli_rerun_does_not_pick_up_its_own_outputs(
    tmp_path: Path, real_models: Path, product_photo: ProductPhoto
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "bottle.jpg").write_bytes(product_photo.jpeg_bytes())
    args = [
        "background-removal",
        str(photos),
        "--out",
        str(photos / "cut"),
        "--model",
        "u2netp",
        "-q",
    ]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert CliRunner().invoke(app, args).exit_code == 0
    assert sorted(p.name for p in (photos / "cut").iterdir()) == ["bottle.png"]


def _buggy_step(pixels: np.ndarray, params: object) -> object:
    """A step with a bug in it (not a bad input): the kind of failure users must not see
    as a traceback."""
    return {}["no such key"]


def test_an_internal_error_is_one_line_and_its_traceback_goes_to_the_log(
    tmp_path: Path, photo: ProductPhoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from packshot.pipeline import steps as steps_module

    log = tmp_path / "logs" / "packshot.log"
    monkeypatch.setenv("PACKSHOT_LOG_FILE", str(log))
    monkeypatch.setitem(steps_module._TABLE, "buggy", f"{__name__}:_buggy_step")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("version: 1\nsteps: [buggy]\ntargets: [amazon-main, etsy]\n")
    src = photo.save_jpeg(tmp_path / "shoe.jpg")
    result = invoke("run", str(recipe), str(src), "--out", str(tmp_path / "out"), "-j", "1")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "internal error" in line]
    assert len(lines) == 2  # one per target, each naming the file, target and exception
    for line in lines:
        assert "shoe.jpg" in line and "KeyError" in line and str(log) in line
    assert "amazon-main" in lines[0] and "etsy" in lines[1]
    assert "Traceback" not in result.output
    written = log.read_text()
    assert "Traceback (most recent call last)" in written and "_buggy_step" in written


def test_an_unexpected_exception_outside_a_batch_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from packshot.cli import main as cli

    log = tmp_path / "packshot.log"
    monkeypatch.setenv("PACKSHOT_LOG_FILE", str(log))

    def broken() -> None:
        raise RuntimeError("a bug\nwith a second line")

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.setattr(sys, "argv", ["packshot", "listing", "x.jpg"])
    with pytest.raises(SystemExit) as stop:
        cli.run()
    assert stop.value.code == cli.INTERNAL_EXIT_CODE
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "packshot listing: internal error (RuntimeError: a bug)" in err and str(log) in err
    assert "RuntimeError: a bug" in log.read_text()


def test_engine_option_reaches_the_sessions_and_a_bad_one_is_refused(
    tmp_path: Path, photo: ProductPhoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from packshot.models import runtime

    monkeypatch.delenv(runtime.ENGINE_ENV, raising=False)
    bad = invoke(
        "--engine", "tensorrt", "background-removal", str(tmp_path), "--out", str(tmp_path / "o")
    )
    assert bad.exit_code != 0
    assert "not an engine choice" in flat(bad.output)
    assert_no_traceback(bad)
    src = photo.save_jpeg(tmp_path / "a.jpg")
    ok = invoke(
        "--engine", "onnxruntime", "background-removal", str(src), "--out", str(tmp_path / "o")
    )
    assert ok.exit_code == 0, ok.output
    # Set for this process and the batch workers it spawns.
    assert os.environ[runtime.ENGINE_ENV] == "onnxruntime"
    assert runtime.engine_of("u2net").label == "onnxruntime:f32"
    monkeypatch.delenv(runtime.ENGINE_ENV)
