"""Inference sessions (ONNX Runtime and OpenVINO), on tiny graphs built with onnx.helper."""

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

    def counting(p: Path, what: str, engine: runtime.Engine) -> Any:
        created.append(p)
        return real(p, what, engine)

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


def _register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str = "") -> None:
    """``plus2`` (y = x + 2) in a user catalog, with ``extra`` catalog lines."""
    data = _tiny_onnx(tmp_path / "plus2.onnx", 2.0).read_bytes()
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        f"""
[models.plus2]
task = "test"
licence = "MIT"
sha256 = "{hashlib.sha256(data).hexdigest()}"
size = {len(data)}
{extra}
sources = [{{ kind = "path", path = "plus2.onnx" }}]
"""
    )
    monkeypatch.setenv(registry.CATALOG_ENV, str(catalog))


def test_registry_chooses_openvino_and_it_runs_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(tmp_path, monkeypatch, 'engine = "openvino"\nprecision = "f32"')
    session = models.session("plus2")
    assert isinstance(session, runtime.OpenVinoSession)
    assert runtime.engine_of("plus2") == runtime.Engine("openvino", "f32")
    assert [(p.name, p.shape) for p in session.get_inputs()] == [("x", (1, 3))]
    assert [p.name for p in session.get_outputs()] == ["y"]
    np.testing.assert_allclose(_run(session), [[3.0, 4.0, 5.0]])
    x = {"x": np.array([[0.0, 0.0, 1.0]], dtype=np.float32)}
    np.testing.assert_allclose(session.run(["y"], x)[0], [[2.0, 2.0, 3.0]])
    with pytest.raises(ModelError, match="no output named 'z'"):
        session.run(["z"], x)
    # The user's choice wins over the registry's, and is a separate cached session.
    monkeypatch.setenv(runtime.ENGINE_ENV, "onnxruntime")
    other = models.session("plus2")
    assert other is not session and not isinstance(other, runtime.OpenVinoSession)
    assert runtime.engine_of("plus2").label == "onnxruntime:f32"
    np.testing.assert_allclose(_run(other), [[3.0, 4.0, 5.0]])


def test_engine_choices_parse_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runtime.parse_engines("u2net=openvino:f32, onnxruntime") == {
        "u2net": ("openvino", "f32"),
        None: ("onnxruntime", None),
    }
    monkeypatch.setenv(runtime.ENGINE_ENV, "u2netp=onnxruntime")
    assert runtime.requested_engine("u2netp") == ("onnxruntime", "f32")
    # Not named: the registry's own choice (u2net: OpenVINO in bf16).
    assert runtime.requested_engine("u2net") == ("openvino", "bf16")
    monkeypatch.setenv(runtime.ENGINE_ENV, "openvino")
    assert runtime.requested_engine("u2net") == ("openvino", "bf16")
    assert runtime.requested_engine("yolox-nano") == ("openvino", "f32")
    for bad in ("tensorrt", "openvino:int4", "u2net=onnxruntime:fp8"):
        monkeypatch.setenv(runtime.ENGINE_ENV, bad)
        with pytest.raises(InputError, match="not an engine choice"):
            runtime.requested_engine("u2net")


def test_catalog_rejects_unknown_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _register(tmp_path, monkeypatch, 'engine = "tensorrt"')
    with pytest.raises(ModelError, match="'engine' must be one of onnxruntime, openvino"):
        models.session("plus2")


def test_fallbacks_are_explicit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # OpenVINO missing: ONNX Runtime in fp32, said once in the log and by engine_of.
    caplog.set_level("INFO", logger="packshot.models.runtime")
    monkeypatch.setattr(runtime, "openvino_available", lambda: False)
    _register(tmp_path, monkeypatch, 'engine = "openvino"\nprecision = "bf16"')
    session = models.session("plus2")
    assert not isinstance(session, runtime.OpenVinoSession)
    engine = runtime.engine_of("plus2")
    assert engine.label == "onnxruntime:f32" and "not installed" in (engine.fallback or "")
    assert "runs on onnxruntime:f32: OpenVINO is not installed" in caplog.text
    np.testing.assert_allclose(_run(session), [[3.0, 4.0, 5.0]])
    # ONNX Runtime has no bf16 on CPU.
    assert runtime.resolve_engine("onnxruntime", "bf16").label == "onnxruntime:f32"


def test_bf16_only_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import openvino as ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    engine = runtime.resolve_engine("openvino", "bf16")
    if "BF16" in capabilities:
        assert engine == runtime.Engine("openvino", "bf16")
    else:
        assert engine.label == "openvino:f32" and "no native bf16" in (engine.fallback or "")
    monkeypatch.setattr(runtime, "_cpu_has_bf16", lambda: False)
    assert runtime.resolve_engine("openvino", "bf16").label == "openvino:f32"
