"""ONNX Runtime session cache, on tiny graphs built with onnx.helper."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

from conftest import save_onnx
from packshot import models
from packshot.errors import InputError, ModelError
from packshot.models import registry, runtime


def _tiny_onnx(path: Path, add: float) -> Path:
    """y = x + add, on a 1x3 float tensor."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    const = helper.make_tensor("c", TensorProto.FLOAT, [1], [add])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "c"], ["y"])], "tiny", [x], [y], [const]
    )
    return save_onnx(graph, path)


@pytest.fixture(autouse=True)
def _isolated(isolated_registry: None) -> None:
    """Every test here registers its own model files."""


def _run(session: Any) -> Any:
    return session.run(None, {"x": np.array([[1.0, 2.0, 3.0]], dtype=np.float32)})[0]


def test_session_for_path_cached(tmp_path: Path) -> None:
    path = _tiny_onnx(tmp_path / "plus1.onnx", 1.0)
    first = models.session_for_path(path)
    np.testing.assert_allclose(_run(first), [[2.0, 3.0, 4.0]])
    assert models.session_for_path(str(path)) is first
    models.clear_sessions()
    assert models.session_for_path(path) is not first


def test_session_by_name_through_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = _tiny_onnx(tmp_path / "plus2.onnx", 2.0)
    data = weights.read_bytes()
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        f"""
[models.plus2]
task = "test"
licence = "MIT"
sha256 = "{hashlib.sha256(data).hexdigest()}"
size = {len(data)}
sources = [{{ kind = "path", path = "plus2.onnx" }}]
"""
    )
    monkeypatch.setenv(registry.CATALOG_ENV, str(catalog))
    session = models.session("plus2")  # installs on first use
    np.testing.assert_allclose(_run(session), [[3.0, 4.0, 5.0]])
    assert models.session("plus2") is session
    assert models.is_installed("plus2")
    options = session.get_session_options()
    assert options.inter_op_num_threads == 1


def test_threads_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runtime.THREADS_ENV, "3")
    assert models.thread_count() == 3
    session = models.session_for_path(_tiny_onnx(tmp_path / "m.onnx", 0.0))
    assert session.get_session_options().intra_op_num_threads == 3
    assert session.get_providers() == ["CPUExecutionProvider"]
    for bad in ("0", "-1", "many"):
        monkeypatch.setenv(runtime.THREADS_ENV, bad)
        with pytest.raises(InputError, match="PACKSHOT_THREADS must be a positive integer"):
            models.thread_count()
    monkeypatch.delenv(runtime.THREADS_ENV)
    assert models.thread_count() >= 1


def test_invalid_onnx_is_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelError) as info:
        models.session_for_path(junk)
    assert "junk.onnx" in str(info.value) and "not a valid ONNX model" in str(info.value)

    with pytest.raises(ModelError, match="does not exist"):
        models.session_for_path(tmp_path / "missing.onnx")

    # A registered name whose override file is junk: the message names model and file.
    monkeypatch.setenv("PACKSHOT_MODEL_PATH_U2NETP", str(junk))
    with pytest.raises(ModelError) as info:
        models.session("u2netp")
    assert "model 'u2netp'" in str(info.value) and str(junk) in str(info.value)


def test_concurrent_first_use_creates_one_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _tiny_onnx(tmp_path / "m.onnx", 0.0)
    created: list[Path] = []
    real = runtime._create
    gate = threading.Barrier(8)

    def counting(p: Path, what: str) -> Any:
        created.append(p)
        return real(p, what)

    monkeypatch.setattr(runtime, "_create", counting)
    results: list[Any] = []

    def worker() -> None:
        gate.wait()
        results.append(models.session_for_path(path))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1
    assert len(results) == 8 and all(r is results[0] for r in results)
