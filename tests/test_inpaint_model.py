"""The neural inpainting slot, run for real on a tiny ONNX graph built here.

The graph fills the hole with the mean colour of the known pixels it is shown: a result
PatchMatch or Telea would never give, computed independently below, so the tests prove
that the network ran through ONNX Runtime and that its output is what ends up in the hole.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import save_onnx
from packshot.errors import InputError, ModelError
from packshot.models import catalog as model_catalog
from packshot.models import registry
from packshot.models.inpaint import default_inpainter, neural_inpainter
from packshot.ops.inpaint import inpaint
from packshot.pipeline.repair import remove


def _mean_fill_onnx(path: Path) -> Path:
    """out = image * (1 - mask) + mean(image over known pixels) * mask, times 255.

    Inputs: ``image`` 1x3xHxW float in 0..1, ``mask`` 1x1xHxW float (1 = hole), any H, W.
    """
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, "h", "w"])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, "h", "w"])
    inits = [
        helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0]),
        helper.make_tensor("full", TensorProto.FLOAT, [1], [255.0]),
        helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3]),
    ]
    nodes = [
        helper.make_node("Sub", ["one", "mask"], ["known"]),
        helper.make_node("Mul", ["image", "known"], ["kept"]),
        helper.make_node("ReduceSum", ["kept", "axes"], ["num"], keepdims=1),
        helper.make_node("ReduceSum", ["known", "axes"], ["den"], keepdims=1),
        helper.make_node("Div", ["num", "den"], ["mean"]),
        helper.make_node("Mul", ["mean", "mask"], ["painted"]),
        helper.make_node("Add", ["kept", "painted"], ["unit"]),
        helper.make_node("Mul", ["unit", "full"], ["out"]),
    ]
    graph = helper.make_graph(nodes, "mean_fill", [image, mask], [out], inits)
    return save_onnx(graph, path)


@pytest.fixture(autouse=True)
def _isolated(isolated_registry: None) -> None:
    """Every test here registers its own model files."""


def _register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights: Path) -> None:
    data = weights.read_bytes()
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        f"""
[models.mean-fill]
task = "inpainting"
licence = "MIT"
sha256 = "{hashlib.sha256(data).hexdigest()}"
size = {len(data)}
description = "test network: fills holes with the known pixels' mean"
default_for = "inpainting"

[models.mean-fill.io]
size = 0
multiple = 8

[[models.mean-fill.sources]]
kind = "path"
path = "{weights.name}"
""",
        "utf-8",
    )
    monkeypatch.setenv(registry.CATALOG_ENV, str(catalog))
    model_catalog._load_catalog.cache_clear()


def _photo(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:90, 0:130]
    rgb = np.stack([xx * 1.5, yy * 2.0, 100 + 0 * xx], -1) + rng.normal(0, 4, (90, 130, 3))
    hole = np.zeros((90, 130), bool)
    hole[30:55, 40:77] = True
    return np.clip(rgb, 0, 255).astype(np.uint8), hole


def _expected(
    rgb: np.ndarray, hole: np.ndarray, box_slices: tuple[slice, slice], multiple: int = 1
) -> np.ndarray:
    """The known pixels' mean colour over the crop the network sees (reflect-padded up to
    ``multiple``, the padding counted as known, as the model class feeds it)."""
    crop, h = rgb[box_slices].astype(np.float64), hole[box_slices]
    ph, pw = -crop.shape[0] % multiple, -crop.shape[1] % multiple
    crop = np.pad(crop, ((0, ph), (0, pw), (0, 0)), mode="reflect")
    h = np.pad(h, ((0, ph), (0, pw)))
    return np.rint(crop[~h].mean(axis=0))


def test_registered_network_fills_the_hole_through_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(tmp_path, monkeypatch, _mean_fill_onnx(tmp_path / "mean_fill.onnx"))
    rgb, hole = _photo()
    net = neural_inpainter("mean-fill")
    result = inpaint(rgb, hole, filler=net)
    assert result.method == "mean-fill"
    expected = _expected(rgb, hole, result.box.slices, multiple=8)
    got = result.rgb[hole].astype(np.float64)
    assert np.abs(got - expected).max() <= 1.0  # the network's output, not PatchMatch's
    assert np.array_equal(result.rgb[~hole], rgb[~hole])
    # PatchMatch on the same hole gives texture, not one flat colour.
    plain = inpaint(rgb, hole, method="patchmatch")
    assert plain.rgb[hole].std(axis=0).mean() > 5.0


def test_installed_default_network_is_what_remove_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(tmp_path, monkeypatch, _mean_fill_onnx(tmp_path / "mean_fill.onnx"))
    rgb, hole = _photo(1)
    assert default_inpainter() is None  # registered but not installed: PatchMatch
    registry.install("mean-fill")
    assert default_inpainter() is not None
    result = remove(rgb, mask=hole)
    assert result.method == "mean-fill"
    assert np.array_equal(result.rgb[~hole], rgb[~hole])
    assert result.rgb[hole].std(axis=0).max() < 1.0  # one flat colour: the graph's mean
    forced = remove(rgb, mask=hole, model="patchmatch")
    assert forced.method == "patchmatch"


def test_onnx_path_with_fixed_input_size(tmp_path: Path) -> None:
    path = _mean_fill_onnx(tmp_path / "any.onnx")
    rgb, hole = _photo(2)
    net = neural_inpainter(str(path), io={"size": 64})
    result = inpaint(rgb, hole, filler=net)
    # Resized to 64x64 and back: the hole's interior is the flat mean of the known pixels.
    inner = np.zeros_like(hole)
    inner[34:51, 44:73] = True
    expected = _expected(rgb, hole, result.box.slices)
    assert np.abs(result.rgb[inner].astype(np.float64) - expected).max() <= 3.0


def test_bad_models_are_clear_errors(tmp_path: Path) -> None:
    one_input = tmp_path / "one.onnx"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [x],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(one_input))
    with pytest.raises(ModelError, match="needs an image and a mask input"):
        neural_inpainter(str(one_input))
    with pytest.raises(InputError, match="not inpainting"):
        neural_inpainter("u2netp")
