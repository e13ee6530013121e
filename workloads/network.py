"""A network: named layers in execution order over one input, forming a DAG."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

from workloads.errors import WorkloadError
from workloads.layers import DIM_LIMIT, ELEMENT_LIMIT, OPS_LIMIT, Layer, Reach, Shape

INPUT = "input"


@dataclass(frozen=True)
class Node:
    """A layer bound to its place in a network: resolved inputs, shapes and counts."""

    layer: Layer
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    params: int
    macs: int
    flops: int
    reach: Reach

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def kind(self) -> str:
        return getattr(self.layer, "kind_label", self.layer.kind)

    @property
    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per spatial dimension, in network-input elements."""
        return self.reach.size


class Network:
    """Layers in execution order over an input of shape ``(N, C, *spatial)``.

    Each layer reads the layers named in its ``inputs`` (default: the previous layer), which must
    come earlier, so the graph is a DAG by construction. Shapes, counts and receptive fields are
    computed and checked once, here. ``extra_inputs`` names further network inputs by shape (a
    SCALE-Sim topology, for one, is a list of independent layers, each with its own input).
    """

    def __init__(
        self,
        name: str,
        input_shape: Iterable[int],
        layers: Iterable[Layer],
        extra_inputs: dict[str, Iterable[int]] | None = None,
    ):
        self.name = name
        self.input_shape: Shape = self._check_shape(INPUT, input_shape)
        self.extra_inputs: dict[str, Shape] = {
            key: self._check_shape(key, shape) for key, shape in (extra_inputs or {}).items()
        }
        self.nodes: tuple[Node, ...] = tuple(self._bind(list(layers)))
        if not self.nodes:
            raise WorkloadError(f"network {name!r} has no layers")
        self._by_name = {n.name: n for n in self.nodes}

    def _check_shape(self, key: str, shape: Iterable[int]) -> Shape:
        shape = tuple(shape)
        what = f"network {self.name!r}: {key + '_shape' if key == INPUT else f'input {key!r} shape'}"
        if len(shape) < 2 or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in shape):
            raise WorkloadError(f"{what} must be (N, C, spatial...) of positive ints, not {shape}")
        if max(shape[1:]) > DIM_LIMIT:
            raise WorkloadError(f"{what} {shape}: C and spatial sizes must be at most 2**24 ({DIM_LIMIT:,})")
        if math.prod(shape) > ELEMENT_LIMIT:
            raise WorkloadError(f"{what} {shape} holds more than 2**40 elements; use a smaller batch or input")
        return shape

    def _bind(self, layers: list[Layer]) -> Iterator[Node]:
        shapes: dict[str, Shape] = {INPUT: self.input_shape, **self.extra_inputs}
        reaches: dict[str, Reach] = {
            key: Reach((1,) * (len(shape) - 2), (Fraction(1),) * (len(shape) - 2)) for key, shape in shapes.items()
        }
        previous = INPUT
        for layer in layers:
            if not isinstance(layer, Layer):
                raise WorkloadError(f"network {self.name!r}: {layer!r} is not a layer")
            if layer.name in shapes:
                raise WorkloadError(f"network {self.name!r}: layer name {layer.name!r} is used twice (or is reserved)")
            inputs = layer.inputs or (previous,)
            for src in inputs:
                if src not in shapes:
                    raise layer.fail("inputs", f"names {src!r}, which is not an earlier layer or 'input'")
            in_shapes = [shapes[s] for s in inputs]
            out = layer.infer(in_shapes)
            reach = layer.reach([reaches[s] for s in inputs], in_shapes)
            shapes[layer.name], reaches[layer.name] = out, reach
            previous = layer.name
            node = Node(
                layer=layer,
                inputs=inputs,
                in_shapes=tuple(in_shapes),
                out_shape=out,
                params=layer.params(in_shapes),
                macs=layer.macs(in_shapes),
                flops=layer.flops(in_shapes),
                reach=reach,
            )
            _check_counts(node)
            yield node

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise WorkloadError(f"network {self.name!r} has no layer {name!r}") from None

    @property
    def output_shape(self) -> Shape:
        return self.nodes[-1].out_shape

    @property
    def params(self) -> int:
        """Total trainable parameters."""
        return sum(n.params for n in self.nodes)

    @property
    def macs(self) -> int:
        """Total multiply-accumulates for one forward pass of the batch."""
        return sum(n.macs for n in self.nodes)

    @property
    def flops(self) -> int:
        return sum(n.flops for n in self.nodes)

    def with_batch(self, batch: int) -> Network:
        """The same network on a batch of ``batch`` inputs."""
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise WorkloadError(f"batch must be a positive integer, not {batch!r}")
        if batch > self.max_batch:
            raise WorkloadError(
                f"batch must be at most {self.max_batch:,} for network {self.name!r} (every tensor within 2**40 "
                f"elements and every layer within 2**56 operations), not {batch}"
            )
        extra = {key: (batch, *shape[1:]) for key, shape in self.extra_inputs.items()}
        return Network(self.name, (batch, *self.input_shape[1:]), [n.layer for n in self.nodes], extra)

    @property
    def max_batch(self) -> int:
        """Largest batch whose tensors and layers stay within ELEMENT_LIMIT and OPS_LIMIT.

        Every count is linear in the batch, so each bounds the batch by the limit over its
        per-image value.
        """
        batch = self.input_shape[0]
        per_image = [(math.prod(self.input_shape) // batch, ELEMENT_LIMIT)]
        for node in self.nodes:
            per_image.append((math.prod(node.out_shape) // batch, ELEMENT_LIMIT))
            per_image.append((node.flops // batch, OPS_LIMIT))
        return min(limit // max(count, 1) for count, limit in per_image)

    def summary(self) -> dict:
        """Plain-data description: ``{"network", "input_shape", "layers": [...], "total": {...}}``."""
        return {
            "network": self.name,
            "input_shape": list(self.input_shape),
            "layers": [node_summary(n) for n in self.nodes],
            "total": {"params": self.params, "macs": self.macs, "flops": self.flops},
        }


def _check_counts(node: Node) -> None:
    """Refuse a layer whose output or work the simulator's int64 counts could not hold."""
    if math.prod(node.out_shape) > ELEMENT_LIMIT:
        raise node.layer.fail("output", f"{node.out_shape} holds more than 2**40 elements; use a smaller batch")
    if node.flops > OPS_LIMIT:
        raise node.layer.fail("operations", f"({node.flops:,}) exceed 2**56; use a smaller batch or layer")


def node_summary(node: Node) -> dict:
    """One layer as plain data (the row of ``sim info``)."""
    layer = node.layer
    row = {
        "name": node.name,
        "type": node.kind,
        "inputs": list(node.inputs),
        "input_shape": [list(s) for s in node.in_shapes] if len(node.in_shapes) > 1 else list(node.in_shapes[0]),
        "output_shape": list(node.out_shape),
    }
    for key in ("kernel_size", "stride", "dilation", "groups", "padding_mode"):
        if hasattr(layer, key):
            row[key] = _plain(getattr(layer, key))
    if hasattr(layer, "pads"):
        row["padding"] = [list(p) for p in layer.pads(node.in_shapes[0][2:])]
    elif hasattr(layer, "padding"):
        row["padding"] = [[p, p] for p in layer.padding]
    row.update(
        params=node.params, macs=node.macs, flops=node.flops, receptive_field=list(node.receptive_field)
    )
    return row


def _plain(value):
    return list(value) if isinstance(value, tuple) else value
