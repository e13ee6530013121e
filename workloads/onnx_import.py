"""Import an ONNX model into the layer IR, with its weights.

:func:`load_onnx` reads a file, :func:`from_onnx` takes a ``ModelProto`` (or its bytes). Both
return an :class:`ImportedNetwork`: a :class:`~workloads.network.Network` that also carries the
model's float32 weights (``weights``, a :class:`~workloads.forward.NetworkParams` keyed by layer
name), so the golden forward can run the model's own parameters.

What maps to what (ONNX operator -> layer):

- ``Conv`` -> :class:`Conv` (pads, strides, dilations, group, ``auto_pad``; 1-, 2- or 3-D);
  ``ConvTranspose`` -> :class:`ConvTranspose`.
- ``MaxPool`` / ``AveragePool`` -> :class:`Pool` (asymmetric pads kept as ``(lo, hi)`` pairs);
  ``GlobalAveragePool`` -> :class:`GlobalAvgPool`; ``GlobalMaxPool`` -> a max :class:`Pool`
  over the whole plane.
- ``Gemm`` and ``MatMul`` with a constant weight -> :class:`Linear`; an ``Add`` of a constant
  right after a Linear or convolution is folded into its bias.
- ``Relu``, ``Clip(0, 6)`` (relu6), ``Clip(0, inf)`` (relu), ``LeakyRelu`` -> :class:`Activation`.
- ``BatchNormalization`` right after a Conv or Linear whose output nothing else reads is folded
  into its weights (:func:`workloads.golden.fold_batch_norm`); elsewhere a :class:`BatchNorm`.
- ``Flatten``, and ``Reshape`` / ``Squeeze`` / ``Unsqueeze`` to ``(N, features)`` ->
  :class:`Flatten`; reshapes that change nothing vanish.
- ``Add`` / ``Sum`` of activations -> :class:`Add`; ``Concat`` -> :class:`Concat`; ``LRN`` (odd
  size) -> :class:`LocalResponseNorm`; ``Resize`` / ``Upsample`` by integer nearest factors ->
  :class:`Upsample`; ``Dropout`` and ``Identity`` vanish.
- Shape arithmetic on constants (``Shape``, ``Gather``, ``Concat``, ``Unsqueeze``, ``Cast``,
  ``Constant``, ... as exporters emit for ``x.view(x.size(0), -1)``) is evaluated at import.

Anything else is an unsupported operator: the import fails listing each operator type with its
node names and count, or, with ``skip_unsupported=True``, drops those nodes (their output is their
first input: zero cost, no layer) with an :class:`OnnxImportWarning`.

Shapes come from the layer IR's own inference, cross-checked against the shapes the ONNX graph
states (``value_info``, completed with ``onnx.shape_inference``); a disagreement is an error
rather than a silently different network. A symbolic batch dimension becomes 1.

The ``onnx`` package is optional: importing this module does not need it, using it does.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from workloads import golden
from workloads.errors import UserError, WorkloadError
from workloads.forward import LayerParams, NetworkParams
from workloads.layers import (
    Activation,
    Add,
    BatchNorm,
    Concat,
    Conv,
    ConvTranspose,
    Flatten,
    GlobalAvgPool,
    Layer,
    Linear,
    LocalResponseNorm,
    Pool,
    Shape,
    Upsample,
)
from workloads.network import INPUT, Network

__all__ = ["ImportedNetwork", "OnnxImportWarning", "from_onnx", "load_onnx", "require_onnx"]

ONNX_MISSING = "ONNX import needs the onnx package: pip install 'systolic-toolkit[onnx]'"
_SKIP_HINT = "pass skip_unsupported=True (CLI: --skip-unsupported) to treat them as zero-cost identity layers"
_MAX_NAMES = 5  # node names listed per operator type in messages


class OnnxImportWarning(UserWarning):
    """Something in the model was left out of the imported network (skipped operators)."""


class ImportedNetwork(Network):
    """A :class:`Network` imported from a model file, with the model's weights.

    Attributes
    ----------
    weights : NetworkParams
        float32 weight and bias of every weighted layer (BatchNorm folded where it was folded)
        and the per-channel ``(scale, shift)`` of every unfolded BatchNorm, by layer name.
    source : str
        Where the model came from (a file path or a description).
    skipped : tuple of (op_type, node_name)
        Unsupported operators dropped with ``skip_unsupported=True``.
    """

    def __init__(
        self,
        name: str,
        input_shape: Iterable[int],
        layers: Iterable[Layer],
        extra_inputs: dict[str, Iterable[int]] | None = None,
        *,
        weights: NetworkParams | None = None,
        source: str = "",
        skipped: Sequence[tuple[str, str]] = (),
    ):
        super().__init__(name, input_shape, layers, extra_inputs)
        self.weights = weights if weights is not None else NetworkParams("float32")
        self.source = source
        self.skipped = tuple(skipped)

    def with_batch(self, batch: int) -> ImportedNetwork:
        """The same network (and weights) on a batch of ``batch`` inputs."""
        base = super().with_batch(batch)
        return ImportedNetwork(
            base.name, base.input_shape, [n.layer for n in base.nodes], base.extra_inputs,
            weights=self.weights, source=self.source, skipped=self.skipped,
        )  # fmt: skip


def require_onnx():
    """The ``onnx`` module, or a :class:`UserError` saying how to install it."""
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
        import onnx.shape_inference  # noqa: F401
    except ImportError:
        raise UserError(ONNX_MISSING) from None
    return onnx


def load_onnx(
    path: str | Path,
    *,
    skip_unsupported: bool = False,
    input_shape: Sequence[int] | None = None,
    name: str | None = None,
) -> ImportedNetwork:
    """Import the ONNX model stored in ``path``.

    Parameters
    ----------
    path : str or Path
        An ``.onnx`` file (external weight data is read from beside it).
    skip_unsupported : bool
        Drop unsupported operators (zero cost, output = first input) with an
        :class:`OnnxImportWarning` instead of failing.
    input_shape : sequence of int, optional
        ``(N, C, *spatial)`` to use instead of the shape the model declares (needed when it
        declares symbolic spatial dimensions).
    name : str, optional
        Network name; defaults to the file name without its suffix.

    Returns
    -------
    ImportedNetwork

    Raises
    ------
    UserError
        The file is missing, is not an ONNX model, uses unsupported operators, or ``onnx`` is not
        installed. Messages are one line and name the file.
    """
    onnx = require_onnx()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"ONNX model file {path} does not exist")
    try:
        model = onnx.load(str(path))
    except Exception as err:  # protobuf DecodeError, OSError, missing external data, ...
        raise UserError(f"{path} is not a readable ONNX model ({_one_line(err)})") from None
    return from_onnx(
        model, name=name or path.stem, skip_unsupported=skip_unsupported, input_shape=input_shape, source=str(path)
    )


def from_onnx(
    model,
    *,
    name: str | None = None,
    skip_unsupported: bool = False,
    input_shape: Sequence[int] | None = None,
    source: str | None = None,
) -> ImportedNetwork:
    """Import an ONNX ``ModelProto`` (or its serialized bytes); see :func:`load_onnx`.

    ``source`` names the model in messages (default: ``"ONNX model <graph name>"``).
    """
    onnx = require_onnx()
    if isinstance(model, (bytes, bytearray)):
        try:
            model = onnx.load_model_from_string(bytes(model))
        except Exception as err:
            raise UserError(f"{source or 'model'} is not a readable ONNX model ({_one_line(err)})") from None
    if not isinstance(model, onnx.ModelProto):
        raise UserError(f"from_onnx needs an onnx.ModelProto or its bytes, not {type(model).__name__}")
    graph_name = model.graph.name if model.HasField("graph") else ""
    source = source or f"ONNX model {graph_name or '(unnamed)'}"
    skeleton = _skeleton(onnx, model)
    problem = _validate(onnx, model, skeleton, source)
    importer = _Importer(onnx, model, skeleton, source, name or _sanitize(graph_name) or "onnx_model", skip_unsupported,
                         input_shape)  # fmt: skip
    try:
        return importer.run()
    except UserError as err:
        if problem:
            raise type(err)(f"{err} (the ONNX checker also reports: {problem})") from None
        raise
    except Exception:
        if problem is None:
            raise  # a valid model we failed on: a bug, keep the traceback
        raise UserError(f"{source} is not a valid ONNX model: {problem}") from None


# ---------------------------------------------------------------------------------------------
# Validation and small helpers
# ---------------------------------------------------------------------------------------------


def _one_line(err: BaseException | str) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _skeleton(onnx, model):
    """``model`` with its large initializers declared as graph inputs instead (shape, no data).

    The checker and shape inference serialize the model they get; without the weights that takes
    milliseconds instead of seconds. Small initializers (shape constants) keep their values.
    """
    if not model.HasField("graph"):
        return model
    graph = model.graph
    helper = onnx.helper
    small, declared = [], []
    for init in graph.initializer:
        if math.prod(init.dims) <= 64:
            small.append(init)
        else:
            declared.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    names = {d.name for d in declared}
    inputs = [i for i in graph.input if i.name not in names] + declared
    light = helper.make_graph(list(graph.node), graph.name, inputs, list(graph.output), small,
                              value_info=list(graph.value_info))  # fmt: skip
    return helper.make_model(light, opset_imports=list(model.opset_import), ir_version=model.ir_version,
                             functions=list(model.functions))  # fmt: skip


def _validate(onnx, model, skeleton, source: str) -> str | None:
    """Fail on what is not an ONNX model at all; return what the ONNX checker objects to, if anything.

    The checker is stricter than runtimes (it wants, for one, a shape on every graph output), so
    its objections only decide the message when the import itself then fails.
    """
    if model.ir_version == 0 or not model.HasField("graph") or not model.graph.node:
        raise UserError(f"{source} is not an ONNX model (no IR version or no graph nodes)")
    try:
        onnx.checker.check_model(skeleton)
    except Exception as err:
        return _one_line(err)
    return None


def _sanitize(name: str) -> str:
    """A readable layer name from an ONNX node name.

    Exporters' scope paths such as ``/features/features.0/Conv`` drop the repeated parent scope
    (``features.0_Conv``); characters other than letters, digits, ``_ . -`` become ``_``.
    """
    parts = [p for p in name.split("/") if p]
    kept = [p for i, p in enumerate(parts) if not (i + 1 < len(parts) and parts[i + 1].startswith(p + "."))]
    text = re.sub(r"[^A-Za-z0-9_.\-]+", "_", "_".join(kept))
    return re.sub(r"_+", "_", text).strip("_")


def _describe(nodes: list[tuple[str, str]]) -> str:
    """``Softmax x1 (prob), Sigmoid x2 (s1, s2)``: operator types with counts and node names."""
    by_type: dict[str, list[str]] = {}
    for op, node_name in nodes:
        by_type.setdefault(op, []).append(node_name)
    parts = []
    for op, names in by_type.items():
        shown = ", ".join(names[:_MAX_NAMES]) + (", ..." if len(names) > _MAX_NAMES else "")
        parts.append(f"{op} x{len(names)} ({shown})")
    return "; ".join(parts)


class _Unsupported(Exception):
    """This node (an operator, or an attribute combination) has no layer equivalent."""


@dataclass
class _Node:
    """An ONNX node with its attributes decoded."""

    index: int
    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict

    @property
    def label(self) -> str:
        return self.name or f"#{self.index}"


# Operators evaluated at import time when all their inputs are constants (shape arithmetic).
_FOLDABLE = {
    "Constant", "Identity", "Cast", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape",
    "Slice", "Add", "Sub", "Mul", "Div", "ConstantOfShape", "Transpose", "Dropout", "Flatten",
}  # fmt: skip


def _pairs(pads: Sequence[int], nd: int) -> tuple[tuple[int, int], ...]:
    """ONNX ``[b1, b2, ..., e1, e2, ...]`` pads as ``((b1, e1), (b2, e2), ...)``."""
    pads = list(pads) if pads else [0] * (2 * nd)
    return tuple((int(pads[i]), int(pads[i + nd])) for i in range(nd))


def _padding_spec(pads: tuple[tuple[int, int], ...]):
    """One int per dim when symmetric, else the ``(lo, hi)`` pairs."""
    return tuple(lo for lo, _ in pads) if all(lo == hi for lo, hi in pads) else pads


def _auto_pads(auto_pad: str, spatial, kernel, stride, dilation) -> tuple[tuple[int, int], ...]:
    """ONNX ``SAME_UPPER`` / ``SAME_LOWER``: ``out = ceil(in / stride)``, the odd element high / low."""
    pads = []
    for n, k, s, d in zip(spatial, kernel, stride, dilation):
        total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
        small = total // 2
        pads.append((small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small))
    return tuple(pads)


# ---------------------------------------------------------------------------------------------
# The importer
# ---------------------------------------------------------------------------------------------


class _Importer:
    def __init__(self, onnx, model, skeleton, source: str, name: str, skip: bool, input_shape):
        self.onnx = onnx
        self.model = model
        self.skeleton = skeleton
        self.graph = model.graph
        self.source = source
        self.name = name
        self.skip = skip
        self.override_shape = tuple(input_shape) if input_shape is not None else None
        self.consts: dict[str, np.ndarray] = {}
        self.src: dict[str, str] = {}  # tensor -> producing layer name (or INPUT)
        self.shape: dict[str, Shape] = {}  # tensor -> shape (activations only)
        self.layers: list[Layer] = []
        self.position: dict[str, int] = {}  # layer name -> index in self.layers
        self.params: dict[str, LayerParams] = {}
        self.out_shape: dict[str, Shape] = {}  # layer name -> output shape
        self.uses: Counter[str] = Counter()  # tensor -> consumers (graph outputs count)
        self.layer_uses: Counter[str] = Counter()  # layer name -> consumers of its value
        self.names: set[str] = {INPUT}
        self.skipped: list[tuple[str, str]] = []
        self.graph_shapes: dict[str, tuple] = {}
        self.check_batch = True

    # -- driver ---------------------------------------------------------------------------------

    def run(self) -> ImportedNetwork:
        for init in self.graph.initializer:
            try:
                self.consts[init.name] = self.onnx.numpy_helper.to_array(init)
            except Exception as err:  # data of the wrong size, unknown type, missing external file
                raise UserError(f"{self.source}: initializer {init.name!r} is unreadable ({_one_line(err)})") from None
        nodes = self._live_nodes()
        for node in nodes:
            for t in node.inputs:
                if t:
                    self.uses[t] += 1
        for out in self.graph.output:
            self.uses[out.name] += 1
        self._bind_input()
        self._read_graph_shapes()
        self._prescan(nodes)
        for node in nodes:
            self._convert(node)
        if self.skipped:
            warnings.warn(
                f"{self.source}: skipped {len(self.skipped)} unsupported ONNX operator(s) as zero-cost identity "
                f"layers: {_describe(self.skipped)}",
                OnnxImportWarning,
                stacklevel=3,
            )
        if not self.layers:
            raise UserError(f"{self.source}: the model has no operators that map to layers")
        weights = NetworkParams("float32", self.params)
        try:
            return ImportedNetwork(self.name, self.input_shape, self.layers, weights=weights, source=self.source,
                                   skipped=self.skipped)  # fmt: skip
        except WorkloadError as err:
            raise WorkloadError(f"{self.source}: {err}") from None

    def _live_nodes(self) -> list[_Node]:
        """Nodes that contribute to a graph output, in graph (topological) order."""
        helper = self.onnx.helper
        raw = list(self.graph.node)
        live = {o.name for o in self.graph.output}
        keep = [False] * len(raw)
        for i in range(len(raw) - 1, -1, -1):
            if any(o in live for o in raw[i].output):
                keep[i] = True
                live.update(t for t in raw[i].input if t)
        nodes = []
        for i, n in enumerate(raw):
            if not keep[i]:
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
            op = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
            nodes.append(_Node(i, op, n.name, list(n.input), list(n.output), attrs))
        return nodes

    def _bind_input(self) -> None:
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs) or "none"
            raise UserError(
                f"{self.source}: the model has {len(inputs)} graph inputs that are not initializers ({names}); "
                f"only single-input models can be imported"
            )
        (value,) = inputs
        dims = self._dims(value)
        if self.override_shape is not None:
            shape = self.override_shape
            self.check_batch = False
        else:
            if dims is None:
                raise UserError(
                    f"{self.source}: input {value.name!r} has no declared shape; pass input_shape=(N, C, ...)"
                )
            if dims and dims[0] is None:
                dims = (1, *dims[1:])
                self.check_batch = False
            if any(d is None for d in dims):
                raise UserError(
                    f"{self.source}: input {value.name!r} has symbolic dimensions {dims}; pass input_shape=(N, C, ...)"
                )
            shape = dims
        if len(shape) < 2:
            raise UserError(f"{self.source}: input {value.name!r} must be (N, C, ...) or (N, features), not {shape}")
        self.input_shape = tuple(int(d) for d in shape)
        self.src[value.name] = INPUT
        self.shape[value.name] = self.input_shape
        self.input_name = value.name

    def _dims(self, value) -> tuple | None:
        t = value.type
        if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
            return None
        return tuple(
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in t.tensor_type.shape.dim
        )

    def _read_graph_shapes(self) -> None:
        """Shapes the graph states for its tensors, completed by ONNX shape inference."""
        model = self.skeleton
        known = {v.name for v in self.graph.value_info} | {o.name for o in self.graph.output}
        produced = {o for n in self.graph.node for o in n.output}
        if self.override_shape is None and not produced <= known:
            try:
                model = self.onnx.shape_inference.infer_shapes(model)
            except Exception:  # inference is a cross-check only; a model it cannot handle still imports
                pass
        for value in list(model.graph.value_info) + list(model.graph.output):
            dims = self._dims(value)
            if dims is not None:
                self.graph_shapes[value.name] = dims

    def _prescan(self, nodes: list[_Node]) -> None:
        """Fail listing every operator type that has no mapping (unless skipping them)."""
        const = set(self.consts)
        bad = []
        for node in nodes:
            inputs = [t for t in node.inputs if t]
            foldable = node.op in _FOLDABLE and (node.op == "Shape" or all(t in const for t in inputs))
            if foldable:
                const.update(node.outputs)
            elif node.op not in _HANDLERS:
                bad.append((node.op, node.label))
        if bad and not self.skip:
            raise UserError(f"{self.source}: {len(bad)} unsupported ONNX operator(s): {_describe(bad)}; {_SKIP_HINT}")

    def _convert(self, node: _Node) -> None:
        inputs = [t for t in node.inputs if t]
        try:
            if node.op in _FOLDABLE and (node.op == "Shape" or all(t in self.consts for t in inputs)):
                try:
                    self._fold(node)
                except (ValueError, IndexError, KeyError, TypeError) as err:
                    raise WorkloadError(f"cannot evaluate it on its constant inputs ({_one_line(err)})") from None
                return
            for t in inputs:
                if t not in self.consts and t not in self.src:
                    raise WorkloadError(f"input {t!r} is not produced by any earlier node")
            handler = _HANDLERS.get(node.op)
            if handler is None:
                raise _Unsupported("no layer corresponds to this operator")
            handler(self, node)
        except _Unsupported as why:
            if not self.skip:
                raise UserError(
                    f"{self.source}: unsupported ONNX operator {node.op} (node {node.label}): {why}; {_SKIP_HINT}"
                ) from None
            self._skip(node)
        except WorkloadError as err:
            raise WorkloadError(f"{self.source}: node {node.label} ({node.op}): {_one_line(err)}") from None

    def _skip(self, node: _Node) -> None:
        self.skipped.append((node.op, node.label))
        data = next((t for t in node.inputs if t and t in self.src), None)
        if data is None:
            raise UserError(f"{self.source}: node {node.label} ({node.op}) cannot be skipped: it reads no activation")
        self._alias(node.outputs[0], data)

    # -- bookkeeping ----------------------------------------------------------------------------

    def act(self, tensor: str) -> str:
        """``tensor`` as an activation input (not a constant)."""
        if tensor in self.consts:
            raise _Unsupported(f"input {tensor!r} is a constant where an activation is expected")
        return tensor

    def const(self, tensor: str, what: str) -> np.ndarray:
        if tensor not in self.consts:
            raise _Unsupported(f"{what} ({tensor!r}) must be a constant (an initializer)")
        return self.consts[tensor]

    def optional(self, node: _Node, i: int) -> str | None:
        return node.inputs[i] if len(node.inputs) > i and node.inputs[i] else None

    def _alias(self, out: str, tensor: str) -> None:
        """``out`` is the same value as ``tensor`` (an op that changes nothing)."""
        self.src[out] = self.src[tensor]
        self.shape[out] = self.shape[tensor]
        if self.src[tensor] != INPUT:
            self.layer_uses[self.src[tensor]] += self.uses[out] - 1

    def _unique(self, node: _Node) -> str:
        base = _sanitize(node.name) or f"{node.op.split('.')[-1].lower()}_{node.index}"
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def emit(self, node: _Node, cls: type[Layer], inputs: Sequence[str], params: LayerParams | None = None, **fields):
        """Add a layer computing ``node.outputs[0]`` from the activations ``inputs``."""
        name = self._unique(node)
        layer = cls(name=name, inputs=tuple(self.src[t] for t in inputs), **fields)
        out = layer.infer([self.shape[t] for t in inputs])
        self._check_shape(node.outputs[0], out, layer)
        self.position[name] = len(self.layers)
        self.layers.append(layer)
        if params is not None:
            self.params[name] = params
        self.src[node.outputs[0]] = name
        self.shape[node.outputs[0]] = out
        self.out_shape[name] = out
        self.layer_uses[name] = self.uses[node.outputs[0]]
        return layer

    def _check_shape(self, tensor: str, shape: Shape, layer: Layer | None = None) -> None:
        stated = self.graph_shapes.get(tensor)
        if stated is None or self.override_shape is not None:
            return
        skip_batch = not self.check_batch
        if len(stated) != len(shape) or any(
            s is not None and s != d and not (i == 0 and skip_batch) for i, (s, d) in enumerate(zip(stated, shape))
        ):
            if isinstance(layer, Pool) and layer.ceil_mode:
                # ONNX shape inference lets a ceil_mode window start in the high padding; runtimes
                # (onnxruntime, PyTorch) and this IR drop it. Shapes stated from here on follow the
                # inference, so stop comparing.
                self.graph_shapes.clear()
                return
            raise WorkloadError(
                f"the imported layer computes shape {shape} but the ONNX graph states {stated} for {tensor!r}"
            )

    def producer(self, tensor: str, *types: type[Layer]) -> Layer | None:
        """The layer computing ``tensor`` when it is of ``types`` and nothing else reads its value."""
        name = self.src.get(tensor)
        if name is None or name == INPUT or self.layer_uses[name] != 1:
            return None
        layer = self.layers[self.position[name]]
        return layer if isinstance(layer, types) else None

    def rewrite(self, layer: Layer, out: str, params: LayerParams, **changes) -> None:
        """Replace ``layer`` (already emitted) and make ``out`` its output too."""
        new = replace(layer, **changes)
        self.layers[self.position[layer.name]] = new
        self.params[layer.name] = params
        self.src[out] = layer.name
        self.shape[out] = self.out_shape[layer.name]
        self._check_shape(out, self.shape[out])
        self.layer_uses[layer.name] = self.uses[out]

    # -- constant folding -----------------------------------------------------------------------

    def _fold(self, node: _Node) -> None:
        a = node.attrs
        vals = [self.consts.get(t) if t else None for t in node.inputs]
        op = node.op
        if op == "Constant":
            out = self._constant_value(node)
        elif op in ("Identity", "Dropout"):
            out = vals[0]
        elif op == "Cast":
            out = vals[0].astype(self.onnx.helper.tensor_dtype_to_np_dtype(a["to"]))
        elif op == "Shape":
            t = node.inputs[0]
            shape = self.consts[t].shape if t in self.consts else self.shape[self.act(t)]
            out = np.array(shape[a.get("start", 0) : a.get("end", len(shape))], dtype=np.int64)
        elif op == "Gather":
            out = np.take(vals[0], vals[1], axis=a.get("axis", 0))
        elif op == "Unsqueeze":
            axes = a["axes"] if "axes" in a else vals[1].tolist()
            rank = vals[0].ndim + len(axes)
            out = vals[0]
            for axis in sorted(x % rank for x in axes):
                out = np.expand_dims(out, axis)
        elif op == "Squeeze":
            axes = a.get("axes", vals[1].tolist() if len(vals) > 1 and vals[1] is not None else None)
            out = np.squeeze(vals[0], axis=None if axes is None else tuple(axes))
        elif op == "Concat":
            out = np.concatenate([v for v in vals if v is not None], axis=a["axis"])
        elif op == "Reshape":
            out = vals[0].reshape(_reshape_target(vals[0].shape, vals[1], a.get("allowzero", 0)))
        elif op == "Flatten":
            axis = a.get("axis", 1) % max(vals[0].ndim, 1)
            out = vals[0].reshape(math.prod(vals[0].shape[:axis]), -1)
        elif op == "Slice":
            out = self._slice(node, vals)
        elif op in ("Add", "Sub", "Mul", "Div"):
            x, y = vals
            if op == "Div" and x.dtype.kind in "iu" and y.dtype.kind in "iu":
                out = np.trunc(x / y).astype(np.result_type(x, y))
            else:
                out = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](x, y)
        elif op == "ConstantOfShape":
            fill = self.onnx.numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
            out = np.full(tuple(int(d) for d in vals[0]), fill.reshape(-1)[0], dtype=fill.dtype)
        elif op == "Transpose":
            out = np.transpose(vals[0], a.get("perm"))
        else:  # pragma: no cover - _FOLDABLE and this chain agree
            raise _Unsupported("cannot evaluate it at import time")
        self.consts[node.outputs[0]] = np.asarray(out)

    def _constant_value(self, node: _Node) -> np.ndarray:
        a = node.attrs
        if "value" in a:
            return self.onnx.numpy_helper.to_array(a["value"])
        for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                           ("value_ints", np.int64)):  # fmt: skip
            if key in a:
                return np.array(a[key], dtype=dtype)
        raise _Unsupported(f"Constant with attribute(s) {sorted(a)}")

    def _slice(self, node: _Node, vals) -> np.ndarray:
        a = node.attrs
        data = vals[0]
        if "starts" in a:  # opset < 10
            starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
        else:
            starts, ends = vals[1].tolist(), vals[2].tolist()
            axes = vals[3].tolist() if len(vals) > 3 and vals[3] is not None else None
            steps = vals[4].tolist() if len(vals) > 4 and vals[4] is not None else None
        axes = list(range(len(starts))) if axes is None else axes
        steps = [1] * len(starts) if steps is None else steps
        index = [slice(None)] * data.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            big = 2**62
            index[ax] = slice(max(min(s, big), -big), max(min(e, big), -big), st)
        return data[tuple(index)]

    # -- operator handlers ----------------------------------------------------------------------

    def _conv_operands(self, node: _Node):
        """Input name, weight, bias, input shape, spatial rank, attributes and kernel of Conv(Transpose)."""
        x = self.act(node.inputs[0])
        weight = self.const(node.inputs[1], "the weight")
        b_name = self.optional(node, 2)
        bias = self.const(b_name, "the bias") if b_name else None
        shape = self.shape[x]
        nd = len(shape) - 2
        a = node.attrs
        kernel = tuple(a.get("kernel_shape", weight.shape[2:]))
        return x, weight, bias, shape, nd, a, kernel

    def conv(self, node: _Node) -> None:
        x, weight, bias, shape, nd, a, kernel = self._conv_operands(node)
        if weight.ndim != nd + 2 or tuple(weight.shape[2:]) != kernel:
            raise WorkloadError(f"weight shape {weight.shape} does not match kernel_shape {kernel} on input {shape}")
        groups = int(a.get("group", 1))
        if weight.shape[1] * groups != shape[1]:
            raise WorkloadError(
                f"weight shape {weight.shape} with group={groups} does not fit {shape[1]} input channels"
            )
        _check_bias(bias, weight.shape[0])
        stride = tuple(a.get("strides", (1,) * nd))
        dilation = tuple(a.get("dilations", (1,) * nd))
        pads = self._window_pads(a, shape[2:], kernel, stride, dilation)
        self.emit(
            node, Conv, [x], LayerParams(_f32(weight), None if bias is None else _f32(bias)),
            in_channels=shape[1], out_channels=weight.shape[0], kernel_size=kernel, stride=stride,
            padding=_padding_spec(pads), dilation=dilation, groups=groups, bias=bias is not None,
        )  # fmt: skip

    def _window_pads(self, a: dict, spatial, kernel, stride, dilation) -> tuple[tuple[int, int], ...]:
        auto = a.get("auto_pad", "NOTSET")
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            return _auto_pads(auto, spatial, kernel, stride, dilation)
        if auto == "VALID":
            return ((0, 0),) * len(kernel)
        if auto != "NOTSET":
            raise _Unsupported(f"auto_pad {auto!r}")
        return _pairs(a.get("pads"), len(kernel))

    def conv_transpose(self, node: _Node) -> None:
        x, weight, bias, shape, nd, a, kernel = self._conv_operands(node)
        groups = int(a.get("group", 1))
        if weight.ndim != nd + 2 or tuple(weight.shape[2:]) != kernel or weight.shape[0] != shape[1]:
            raise WorkloadError(f"weight shape {weight.shape} does not fit input {shape} and kernel_shape {kernel}")
        _check_bias(bias, weight.shape[1] * groups)
        stride = tuple(a.get("strides", (1,) * nd))
        dilation = tuple(a.get("dilations", (1,) * nd))
        out_pad = tuple(a.get("output_padding", (0,) * nd))
        auto = a.get("auto_pad", "NOTSET")
        full = [
            s * (n - 1) + op + d * (k - 1) + 1 for n, k, s, d, op in zip(shape[2:], kernel, stride, dilation, out_pad)
        ]
        if "output_shape" in a or auto in ("SAME_UPPER", "SAME_LOWER"):
            target = (
                list(a["output_shape"])[-nd:] if "output_shape" in a else [n * s for n, s in zip(shape[2:], stride)]
            )
            totals = [f - t for f, t in zip(full, target)]
            if any(t < 0 for t in totals):
                raise _Unsupported(f"output_shape {target} is larger than the full output {full}")
            # As onnxruntime: SAME_UPPER puts the odd element at the start... of what is removed.
            upper = auto == "SAME_UPPER"
            pads = tuple((t - t // 2, t // 2) if not upper else (t // 2, t - t // 2) for t in totals)
        elif auto == "VALID":
            pads = ((0, 0),) * nd
        elif auto == "NOTSET":
            pads = _pairs(a.get("pads"), nd)
        else:
            raise _Unsupported(f"auto_pad {auto!r}")
        # PyTorch crops `padding` from both sides, then output_padding adds on the high side.
        padding = tuple(lo for lo, _ in pads)
        output_padding = tuple(op + lo - hi for op, (lo, hi) in zip(out_pad, pads))
        if any(op < 0 or (op >= s and op >= d) for op, s, d in zip(output_padding, stride, dilation)):
            raise _Unsupported(
                f"pads {pads} with output_padding {out_pad} has no PyTorch-style (symmetric padding + "
                f"output_padding) equivalent"
            )
        self.emit(
            node, ConvTranspose, [x], LayerParams(_f32(weight), None if bias is None else _f32(bias)),
            in_channels=shape[1], out_channels=weight.shape[1] * groups, kernel_size=kernel, stride=stride,
            padding=padding, output_padding=output_padding, dilation=dilation, groups=groups, bias=bias is not None,
        )  # fmt: skip

    def pool(self, node: _Node) -> None:
        if len(node.outputs) > 1 and node.outputs[1] and self.uses[node.outputs[1]]:
            raise _Unsupported("the Indices output is used")
        x = self.act(node.inputs[0])
        shape = self.shape[x]
        a = node.attrs
        kernel = tuple(a["kernel_shape"])
        nd = len(kernel)
        if len(shape) != nd + 2:
            raise WorkloadError(f"kernel_shape {kernel} does not fit input {shape}")
        stride = tuple(a.get("strides", (1,) * nd))
        dilation = tuple(a.get("dilations", (1,) * nd))
        mode = "max" if node.op == "MaxPool" else "avg"
        if mode == "avg" and any(d != 1 for d in dilation):
            raise _Unsupported(f"dilated average pooling (dilations {dilation})")
        pads = self._window_pads(a, shape[2:], kernel, stride, dilation)
        # For max pooling or without padding count_include_pad changes nothing: keep the IR's
        # (PyTorch's) default then.
        include = mode == "max" or bool(a.get("count_include_pad", 0)) or not any(lo or hi for lo, hi in pads)
        self.emit(
            node, Pool, [x], mode=mode, kernel_size=kernel, stride=stride, padding=_padding_spec(pads),
            dilation=dilation, ceil_mode=bool(a.get("ceil_mode", 0)), count_include_pad=include,
        )  # fmt: skip

    def global_avg_pool(self, node: _Node) -> None:
        self.emit(node, GlobalAvgPool, [self.act(node.inputs[0])])

    def global_max_pool(self, node: _Node) -> None:
        x = self.act(node.inputs[0])
        spatial = self.shape[x][2:]
        if not 1 <= len(spatial) <= 3:
            raise _Unsupported(f"GlobalMaxPool on a {len(spatial)}-D input")
        self.emit(node, Pool, [x], mode="max", kernel_size=tuple(spatial))

    def gemm(self, node: _Node) -> None:
        a = node.attrs
        if a.get("transA", 0):
            raise _Unsupported("transA=1")
        x = self.act(node.inputs[0])
        b = self.const(node.inputs[1], "B (the weight)")
        weight = b if a.get("transB", 0) else b.T
        weight = _f32(weight) * np.float32(a.get("alpha", 1.0))
        c_name = self.optional(node, 2)
        bias = None
        if c_name:
            c = self.const(c_name, "C (the bias)")
            bias = self._bias_vector(c, weight.shape[0], 2)
            if bias is None:
                raise _Unsupported(f"C of shape {c.shape} is not one bias per output")
            bias = bias * np.float32(a.get("beta", 1.0))
        self._linear(node, x, weight, bias)

    def matmul(self, node: _Node) -> None:
        x = self.act(node.inputs[0])
        b = self.const(node.inputs[1], "the second operand")
        if b.ndim != 2:
            raise _Unsupported(f"a {b.ndim}-D weight (only (in, out) matrices are a Linear)")
        self._linear(node, x, _f32(b.T), None)

    def _linear(self, node: _Node, x: str, weight: np.ndarray, bias) -> None:
        shape = self.shape[x]
        if len(shape) != 2:
            raise _Unsupported(f"a {len(shape)}-D input {shape} (a Linear takes (N, features))")
        if weight.shape[1] != shape[1]:
            raise WorkloadError(f"weight of shape {weight.shape} does not fit input {shape}")
        self.emit(node, Linear, [x], LayerParams(weight, bias), in_features=shape[1], out_features=weight.shape[0],
                  bias=bias is not None)  # fmt: skip

    @staticmethod
    def _bias_vector(c: np.ndarray, channels: int, rank: int) -> np.ndarray | None:
        """``c`` as one value per output channel (axis 1 of a rank-``rank`` output), if it is one."""
        c = np.asarray(c)
        if c.size == 1:
            return np.full(channels, c.reshape(-1)[0], dtype=np.float32)
        if c.size != channels or c.ndim > rank:
            return None
        full = (1,) * (rank - c.ndim) + c.shape
        if full[1] != channels:
            return None
        return _f32(c.reshape(-1))

    def add(self, node: _Node) -> None:
        inputs = [t for t in node.inputs if t]
        consts = [t for t in inputs if t in self.consts]
        if node.op == "Add" and len(consts) == 1 and len(inputs) == 2:
            self._add_bias(node, next(t for t in inputs if t not in self.consts), self.consts[consts[0]])
            return
        if consts:
            raise _Unsupported("adding a constant that is not the bias of a Linear or convolution")
        if len(inputs) == 1:
            self._alias(node.outputs[0], inputs[0])
            return
        shapes = {self.shape[t] for t in inputs}
        if len(shapes) > 1:
            raise _Unsupported(f"broadcasting between shapes {sorted(shapes)}")
        self.emit(node, Add, inputs)

    def _add_bias(self, node: _Node, x: str, c: np.ndarray) -> None:
        layer = self.producer(x, Conv, ConvTranspose, Linear)
        if layer is None:
            raise _Unsupported("adding a constant that is not the bias of a Linear or convolution")
        shape = self.shape[x]
        vector = self._bias_vector(c, shape[1], len(shape))
        try:
            fits = vector is not None and np.broadcast_shapes(c.shape, shape) == shape
        except ValueError:
            fits = False
        if not fits:
            raise _Unsupported(f"a constant of shape {c.shape} is not one bias per channel of {shape}")
        p = self.params[layer.name]
        bias = vector if p.bias is None else p.bias + vector
        self.rewrite(layer, node.outputs[0], LayerParams(p.weight, bias), bias=True)

    def relu(self, node: _Node) -> None:
        self.emit(node, Activation, [self.act(node.inputs[0])], function="relu")

    def leaky_relu(self, node: _Node) -> None:
        slope = _float(node.attrs.get("alpha", 0.01))
        self.emit(node, Activation, [self.act(node.inputs[0])], function="leaky_relu", negative_slope=slope)

    def clip(self, node: _Node) -> None:
        a = node.attrs
        low, high = a.get("min"), a.get("max")
        for i in (1, 2):
            t = self.optional(node, i)
            if t:
                value = float(self.const(t, "min" if i == 1 else "max").reshape(-1)[0])
                low, high = (value, high) if i == 1 else (low, value)
        if low == 0 and high == 6:
            function = "relu6"
        elif low == 0 and (high is None or math.isinf(high) or high >= np.finfo(np.float32).max):
            function = "relu"
        else:
            raise _Unsupported(f"Clip({low}, {high}); only Clip(0, 6) (relu6) and Clip(0, inf) (relu) are layers")
        self.emit(node, Activation, [self.act(node.inputs[0])], function=function)

    def batch_norm(self, node: _Node) -> None:
        a = node.attrs
        if a.get("training_mode", 0) or any(self.uses[o] for o in node.outputs[1:] if o):
            raise _Unsupported("training mode (running statistics as outputs)")
        x = self.act(node.inputs[0])
        gamma, beta, mean, var = (self.const(t, n) for t, n in zip(node.inputs[1:5], ("scale", "B", "mean", "var")))
        eps = _float(a.get("epsilon", 1e-5))
        channels = self.shape[x][1]
        layer = self.producer(x, Conv, Linear)
        if layer is not None:
            p = self.params[layer.name]
            weight, bias = golden.fold_batch_norm(p.weight, p.bias, mean, var, gamma, beta, eps)
            self.rewrite(layer, node.outputs[0], LayerParams(_f32(weight), _f32(bias)), bias=True)
            return
        scale = _f32(gamma) / np.sqrt(_f32(var) + np.float32(eps))
        shift = _f32(beta) - _f32(mean) * scale
        self.emit(node, BatchNorm, [x], LayerParams(scale, shift), num_features=channels, eps=eps)

    def flatten(self, node: _Node) -> None:
        x = self.act(node.inputs[0])
        shape = self.shape[x]
        axis = node.attrs.get("axis", 1)
        axis = axis + len(shape) if axis < 0 else axis
        self._to_shape(node, x, (math.prod(shape[:axis]), math.prod(shape[axis:])))

    def reshape(self, node: _Node) -> None:
        x = self.act(node.inputs[0])
        target = self.const(node.inputs[1], "the target shape")
        self._to_shape(node, x, _reshape_target(self.shape[x], target, node.attrs.get("allowzero", 0)))

    def squeeze(self, node: _Node) -> None:
        x = self.act(node.inputs[0])
        shape = self.shape[x]
        axes = node.attrs.get("axes")
        if axes is None and self.optional(node, 1):
            axes = self.const(node.inputs[1], "axes").tolist()
        axes = [i for i, d in enumerate(shape) if d == 1] if axes is None else [a % len(shape) for a in axes]
        self._to_shape(node, x, tuple(d for i, d in enumerate(shape) if i not in axes))

    def unsqueeze(self, node: _Node) -> None:
        x = self.act(node.inputs[0])
        axes = node.attrs.get("axes")
        if axes is None:
            axes = self.const(node.inputs[1], "axes").tolist()
        shape = list(self.shape[x])
        rank = len(shape) + len(axes)
        for axis in sorted(a % rank for a in axes):
            shape.insert(axis, 1)
        self._to_shape(node, x, tuple(shape))

    def _to_shape(self, node: _Node, x: str, target: tuple[int, ...]) -> None:
        shape = self.shape[x]
        target = tuple(int(d) for d in target)
        if target == shape:
            self._alias(node.outputs[0], x)
        elif len(shape) > 2 and target == (shape[0], math.prod(shape[1:])):
            self.emit(node, Flatten, [x])
        else:
            raise _Unsupported(f"reshaping {shape} to {target}; only flattening to (N, features) is a layer")

    def identity(self, node: _Node) -> None:
        self._alias(node.outputs[0], self.act(node.inputs[0]))

    def concat(self, node: _Node) -> None:
        inputs = [self.act(t) for t in node.inputs if t]
        if len(inputs) == 1:
            self._alias(node.outputs[0], inputs[0])
            return
        axis = node.attrs["axis"]
        rank = len(self.shape[inputs[0]])
        axis = axis + rank if axis < 0 else axis
        if axis == 0:
            raise _Unsupported("concatenation along the batch axis")
        self.emit(node, Concat, inputs, dim=axis)

    def lrn(self, node: _Node) -> None:
        a = node.attrs
        size = int(a["size"])
        if size % 2 == 0:
            raise _Unsupported(f"an even size ({size}): its channel window is centred differently from PyTorch's")
        self.emit(node, LocalResponseNorm, [self.act(node.inputs[0])], size=size, alpha=_float(a.get("alpha", 1e-4)),
                  beta=_float(a.get("beta", 0.75)), k=_float(a.get("bias", 1.0)))  # fmt: skip

    def resize(self, node: _Node) -> None:
        a = node.attrs
        x = self.act(node.inputs[0])
        shape = self.shape[x]
        if a.get("mode", "nearest") != "nearest":
            raise _Unsupported(f"mode {a['mode']!r} (only nearest-neighbour upsampling is a layer)")
        scales = sizes = None
        if "scales" in a:  # Upsample-7
            scales = a["scales"]
        elif node.op == "Upsample" or (len(node.inputs) == 2):  # Upsample-9, Resize-10: (X, scales)
            scales = self.const(node.inputs[1], "scales").tolist()
        else:
            if self.optional(node, 2) and self.consts.get(node.inputs[2], np.zeros(0)).size:
                scales = self.const(node.inputs[2], "scales").tolist()
            elif self.optional(node, 3):
                sizes = self.const(node.inputs[3], "sizes").tolist()
        if sizes is None:
            if scales is None or len(scales) != len(shape):
                raise _Unsupported("no scales or sizes for every axis")
            sizes = [int(math.floor(n * s)) for n, s in zip(shape, scales)]
        factors = [o // n if o % n == 0 else 0 for o, n in zip(sizes, shape)]
        if factors[:2] != [1, 1] or any(f < 1 for f in factors[2:]) or len(shape) < 3:
            raise _Unsupported(f"resizing {shape} to {tuple(sizes)} (integer upsampling of spatial dims only)")
        if node.op == "Resize":
            coord = a.get("coordinate_transformation_mode", "half_pixel")
            rounding = a.get("nearest_mode", "round_prefer_floor")
            for n, f in zip(shape[2:], factors[2:]):
                if not _nearest_is_repeat(n, f, coord, rounding):
                    raise _Unsupported(f"nearest resize with {coord} / {rounding} is not element repetition")
        self.emit(node, Upsample, [x], scale_factor=tuple(factors[2:]), mode="nearest")


def _check_bias(bias: np.ndarray | None, channels: int) -> None:
    if bias is not None and bias.shape != (channels,):
        raise WorkloadError(f"bias shape {bias.shape} is not one value per output channel ({channels})")


def _float(value) -> float:
    """A float attribute (stored as float32) as the shortest decimal that round-trips: 0.2, not 0.2000000029."""
    return float(str(np.float32(value)))


def _f32(array) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(array, dtype=np.float32))


def _reshape_target(shape: Sequence[int], target, allowzero: int = 0) -> tuple[int, ...]:
    """The shape ONNX ``Reshape`` gives ``shape`` for ``target`` (0 copies a dim, -1 is inferred)."""
    dims = [int(d) for d in np.asarray(target).reshape(-1)]
    out = [shape[i] if d == 0 and not allowzero else d for i, d in enumerate(dims)]
    if out.count(-1) > 1:
        raise WorkloadError(f"Reshape target {dims} has more than one -1")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or math.prod(shape) % known:
            raise WorkloadError(f"cannot reshape {tuple(shape)} to {dims}")
        out[out.index(-1)] = math.prod(shape) // known
    if math.prod(out) != math.prod(shape):
        raise WorkloadError(f"cannot reshape {tuple(shape)} to {dims}")
    return tuple(out)


def _nearest_is_repeat(n: int, factor: int, coord: str, rounding: str) -> bool:
    """Whether ONNX nearest Resize of a length-``n`` axis by ``factor`` repeats each element."""
    m = n * factor
    x = np.arange(m, dtype=np.float64)
    if coord in ("half_pixel", "pytorch_half_pixel"):
        orig = (x + 0.5) / factor - 0.5 if (coord == "half_pixel" or m > 1) else np.zeros(m)
    elif coord == "asymmetric":
        orig = x / factor
    elif coord == "tf_half_pixel_for_nn":
        orig = (x + 0.5) / factor
    elif coord == "align_corners":
        orig = x * (n - 1) / (m - 1) if m > 1 else np.zeros(m)
    else:
        return False
    round_fn = {
        "round_prefer_floor": lambda v: np.ceil(v - 0.5),
        "round_prefer_ceil": lambda v: np.floor(v + 0.5),
        "floor": np.floor,
        "ceil": np.ceil,
    }.get(rounding)
    if round_fn is None:
        return False
    index = np.clip(round_fn(orig), 0, n - 1).astype(np.int64)
    return bool(np.array_equal(index, np.arange(m) // factor))


_HANDLERS = {
    "Conv": _Importer.conv,
    "ConvTranspose": _Importer.conv_transpose,
    "MaxPool": _Importer.pool,
    "AveragePool": _Importer.pool,
    "GlobalAveragePool": _Importer.global_avg_pool,
    "GlobalMaxPool": _Importer.global_max_pool,
    "Gemm": _Importer.gemm,
    "MatMul": _Importer.matmul,
    "Add": _Importer.add,
    "Sum": _Importer.add,
    "Relu": _Importer.relu,
    "LeakyRelu": _Importer.leaky_relu,
    "Clip": _Importer.clip,
    "BatchNormalization": _Importer.batch_norm,
    "Flatten": _Importer.flatten,
    "Reshape": _Importer.reshape,
    "Squeeze": _Importer.squeeze,
    "Unsqueeze": _Importer.unsqueeze,
    "Concat": _Importer.concat,
    "LRN": _Importer.lrn,
    "Dropout": _Importer.identity,
    "Identity": _Importer.identity,
    "Resize": _Importer.resize,
    "Upsample": _Importer.resize,
}

SUPPORTED_OPERATORS: tuple[str, ...] = tuple(sorted(_HANDLERS))
