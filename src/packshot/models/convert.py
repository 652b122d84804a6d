"""Derived weights: conversions from a registered model's file to another format.

A catalog entry whose source is ``kind = "derived"`` is made from another registered
model (``from``) by one of the converters here (``convert``); the registry installs and
verifies the original, runs the converter and verifies the result against the entry's own
SHA-256, exactly as for a downloaded file. A converter is a pure function ``bytes ->
bytes``: the same input gives the same output on every machine (the registered checksum
depends on it), so it names every field of what it writes (IR version, opset, producer)
instead of taking a library's defaults.

``fsrcnn-tf``: the FSRCNN TensorFlow graphs (Saafke/FSRCNN_Tensorflow, the files OpenCV's
``dnn_superres`` reads) to ONNX, so FSRCNN runs on ONNX Runtime like every other network
and nothing depends on OpenCV's dnn module (gone from opencv-python 5.1). The frozen
graph is read with a small protobuf wire-format reader (TensorFlow itself is not needed):
its Conv2D/Add/PReLU chain and final DepthToSpace + scalar bias become ONNX Conv, PRelu,
DepthToSpace (DCR, TensorFlow's order) and Add, NCHW in and out (1x1xHxW luma).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from packshot.errors import ModelError

__all__ = ["CONVERTERS", "convert", "fsrcnn_tf_to_onnx"]

FloatArray = npt.NDArray[np.float32]

# Fixed so the bytes (and the registered SHA-256) do not depend on the installed onnx.
_IR_VERSION = 8
_OPSET = 13
_PRODUCER = "packshot.models.convert"


# ------------------------------------------------------------ protobuf wire format


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of one message: ints for varints, bytes otherwise."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value = data[pos : pos + size]
            if len(value) != size:
                raise ValueError("truncated field")
            pos += size
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, value


@dataclass
class _Node:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, list[tuple[int, int | bytes]]] = field(default_factory=dict)


def _graph_nodes(pb: bytes) -> dict[str, _Node]:
    """The nodes of a TensorFlow GraphDef (field 1: NodeDef) by name."""
    nodes: dict[str, _Node] = {}
    for number, raw in _fields(pb):
        if number != 1 or not isinstance(raw, bytes):
            continue
        node = _Node("", "")
        for key, value in _fields(raw):
            if not isinstance(value, bytes):
                continue
            if key == 1:
                node.name = value.decode()
            elif key == 2:
                node.op = value.decode()
            elif key == 3:
                node.inputs.append(value.decode().lstrip("^").split(":")[0])
            elif key == 5:  # map<string, AttrValue> entry
                entry = dict(_fields(value))
                name, attr = entry.get(1), entry.get(2)
                if isinstance(name, bytes) and isinstance(attr, bytes):
                    node.attrs[name.decode()] = list(_fields(attr))
        nodes[node.name] = node
    return nodes


def _const(node: _Node) -> FloatArray:
    """A float32 Const node's value (TensorProto: dtype 1, shape 2, content 4, floats 5)."""
    tensor = next((v for k, v in node.attrs.get("value", []) if k == 8), None)
    if not isinstance(tensor, bytes):
        raise ValueError(f"node {node.name!r} holds no tensor")
    dims: list[int] = []
    content = b""
    floats: list[float] = []
    for key, value in _fields(tensor):
        if key == 1 and value != 1:
            raise ValueError(f"node {node.name!r} is not float32")
        if key == 2 and isinstance(value, bytes):
            for dk, dim in _fields(value):
                if dk == 2 and isinstance(dim, bytes):
                    size = dict(_fields(dim)).get(1, 0)
                    dims.append(int(size) if isinstance(size, int) else 0)
        elif key == 4 and isinstance(value, bytes):
            content = value
        elif key == 5 and isinstance(value, bytes):
            if len(value) == 4:  # one unpacked float
                floats.append(struct.unpack("<f", value)[0])
            else:  # packed
                floats.extend(struct.unpack(f"<{len(value) // 4}f", value))
    count = int(np.prod(dims)) if dims else 1
    if content:
        array = np.frombuffer(content, "<f4").astype(np.float32)
    else:
        # TensorFlow stores a splat as one value.
        array = np.full(count, floats[0] if floats else 0.0, np.float32)
    if array.size != count:
        raise ValueError(f"node {node.name!r}: {array.size} values for shape {dims}")
    return array.reshape(dims) if dims else array.reshape(())


def _attr_bytes(node: _Node, name: str) -> bytes:
    value = next((v for k, v in node.attrs.get(name, []) if k == 2), b"")
    return value if isinstance(value, bytes) else b""


def _attr_int(node: _Node, name: str) -> int:
    value = next((v for k, v in node.attrs.get(name, []) if k == 3), 0)
    return value if isinstance(value, int) else 0


# ------------------------------------------------------------ FSRCNN


def fsrcnn_tf_to_onnx(pb: bytes) -> bytes:
    """An FSRCNN frozen TensorFlow graph as an ONNX model (input ``y`` 1x1xHxW float,
    output ``hr`` 1x1x(sH)x(sW)); raises :class:`ValueError` on any other graph."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = _graph_nodes(pb)
    convs = sorted(
        (n for n in nodes.values() if n.op == "Conv2D"), key=lambda n: int(n.name[4:] or 0)
    )
    shuffle = next((n for n in nodes.values() if n.op == "DepthToSpace"), None)
    bias = next((n for n in nodes.values() if n.op == "BiasAdd"), None)
    if not convs or shuffle is None or bias is None:
        raise ValueError("not an FSRCNN graph (Conv2D ... DepthToSpace, BiasAdd)")
    consumers: dict[str, list[_Node]] = {}
    for node in nodes.values():
        for name in node.inputs:
            consumers.setdefault(name, []).append(node)

    initializers: list[onnx.TensorProto] = []
    onnx_nodes: list[onnx.NodeProto] = []
    current = "y"
    for index, conv in enumerate(convs, start=1):
        if _attr_bytes(conv, "padding") != b"SAME":
            raise ValueError(f"{conv.name}: only SAME padding is supported")
        kernel = _const(nodes[conv.inputs[1]])  # HWIO
        kh, kw = kernel.shape[:2]
        weight = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))  # OIHW
        initializers.append(numpy_helper.from_array(weight, f"w{index}"))
        conv_inputs = [current, f"w{index}"]
        add = next((c for c in consumers.get(conv.name, []) if c.op == "Add"), None)
        if add is not None:
            initializers.append(
                numpy_helper.from_array(_const(nodes[add.inputs[1]]).reshape(-1), f"b{index}")
            )
            conv_inputs.append(f"b{index}")
        current = f"conv{index}"
        onnx_nodes.append(
            helper.make_node(
                "Conv",
                conv_inputs,
                [current],
                name=current,
                kernel_shape=[kh, kw],
                pads=[kh // 2, kw // 2, kh // 2, kw // 2],
            )
        )
        # PReLU is written out as relu(x) + alpha * (x - |x|) * 0.5.
        prelu = None
        if add is not None:
            for user in consumers.get(add.name, []):
                if user.op == "Abs":
                    for sub in consumers.get(user.name, []):
                        for mul in consumers.get(sub.name, []):
                            if mul.op == "Mul" and nodes[mul.inputs[0]].op == "Const":
                                prelu = nodes[mul.inputs[0]]
        if prelu is not None:
            slope = _const(prelu).reshape(-1, 1, 1)
            initializers.append(numpy_helper.from_array(slope, f"a{index}"))
            onnx_nodes.append(
                helper.make_node(
                    "PRelu", [current, f"a{index}"], [f"act{index}"], name=f"act{index}"
                )
            )
            current = f"act{index}"
    block = _attr_int(shuffle, "block_size")
    if block < 2:
        raise ValueError("DepthToSpace without a block size")
    onnx_nodes.append(
        helper.make_node(
            "DepthToSpace", [current], ["shuffled"], name="shuffle", blocksize=block, mode="DCR"
        )
    )
    final_bias = _const(nodes[bias.inputs[1]]).reshape(-1)
    initializers.append(numpy_helper.from_array(final_bias.reshape(1, -1, 1, 1), "bias"))
    onnx_nodes.append(helper.make_node("Add", ["shuffled", "bias"], ["hr"], name="bias"))

    graph = helper.make_graph(
        onnx_nodes,
        f"fsrcnn_x{block}",
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, "height", "width"])],
        [helper.make_tensor_value_info("hr", TensorProto.FLOAT, [1, 1, "out_h", "out_w"])],
        initializers,
    )
    model = helper.make_model(
        graph,
        producer_name=_PRODUCER,
        ir_version=_IR_VERSION,
        opset_imports=[helper.make_opsetid("", _OPSET)],
    )
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


CONVERTERS: dict[str, Callable[[bytes], bytes]] = {"fsrcnn-tf": fsrcnn_tf_to_onnx}
"""Converter name (a catalog's ``convert``) -> function."""


def convert(name: str, data: bytes, *, what: str) -> bytes:
    """Run converter ``name`` on ``data`` (the file ``what``); errors become ModelError."""
    converter = CONVERTERS.get(name)
    if converter is None:
        raise ModelError(f"unknown converter {name!r}; known: {', '.join(sorted(CONVERTERS))}")
    try:
        return converter(data)
    except ImportError as exc:
        raise ModelError(f"converting {what} needs the {exc.name!r} package: {exc}") from exc
    except (ValueError, KeyError, IndexError, struct.error) as exc:
        raise ModelError(f"cannot convert {what} with {name!r}: {exc}") from exc
