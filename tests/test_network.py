"""Network: binding layers into a DAG, shapes and counts per node, batch, summary()."""

from __future__ import annotations

import json

import pytest

from workloads.errors import WorkloadError
from workloads.layers import Activation, Add, Concat, Conv, Flatten, Linear, Pool
from workloads.network import Network


def conv(name, cin=4, cout=4, **kw):
    return Conv(name=name, **{"in_channels": cin, "out_channels": cout, "kernel_size": 3, "padding": 1, **kw})


def residual() -> Network:
    """conv -> relu -> conv, plus the network input, then ReLU: a residual block."""
    return Network(
        "res",
        (1, 4, 8, 8),
        [
            conv("conv1"),
            Activation(name="relu1"),
            conv("conv2"),
            Add(name="add", inputs=("conv2", "input")),
            Activation(name="relu2"),
        ],
    )


def branches() -> Network:
    """Two branches from the input (3x3 and 5x5), concatenated on channels, then a 1x1 conv."""
    return Network(
        "inception",
        (2, 3, 16, 16),
        [
            Conv(name="b3", in_channels=3, out_channels=8, kernel_size=3, padding=1),
            Conv(name="b5", in_channels=3, out_channels=4, kernel_size=5, padding=2, inputs=("input",)),
            Concat(name="cat", inputs=("b3", "b5")),
            Conv(name="mix", in_channels=12, out_channels=6, kernel_size=1),
        ],
    )


def test_default_input_is_previous_layer():
    net = residual()
    assert [n.inputs for n in net] == [("input",), ("conv1",), ("relu1",), ("conv2", "input"), ("add",)]


def test_residual_add():
    net = residual()
    add = net["add"]
    assert add.in_shapes == ((1, 4, 8, 8), (1, 4, 8, 8))
    assert add.out_shape == (1, 4, 8, 8)
    assert add.flops == 4 * 8 * 8
    assert net.params == 2 * (4 * 4 * 9 + 4)
    assert net.macs == 2 * (4 * 64 * 4 * 9)
    # the widest input decides: two 3x3 convs see 5x5, the identity path 1x1
    assert add.receptive_field == (5, 5)
    assert net.output_shape == (1, 4, 8, 8)


def test_concat_branch():
    net = branches()
    assert net["b5"].inputs == ("input",)
    assert net["cat"].in_shapes == ((2, 8, 16, 16), (2, 4, 16, 16))
    assert net["cat"].out_shape == (2, 12, 16, 16)
    assert net["cat"].receptive_field == (5, 5)
    assert net["mix"].out_shape == (2, 6, 16, 16)
    assert net.params == (8 * 27 + 8) + (4 * 75 + 4) + (6 * 12 + 6)
    assert net.macs == 2 * 256 * (8 * 27 + 4 * 75 + 6 * 12)


def test_counts_are_sums_over_nodes():
    net = branches()
    assert net.params == sum(n.params for n in net)
    assert net.macs == sum(n.macs for n in net)
    assert net.flops == sum(n.flops for n in net)
    assert len(net) == 4


def test_node_kind_labels_pool_mode():
    layers = [Pool(name="mp", mode="max", kernel_size=2), Pool(name="ap", mode="avg", kernel_size=2)]
    net = Network("p", (1, 1, 4, 4), layers)
    assert [n.kind for n in net] == ["maxpool", "avgpool"]


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_with_batch_scales_macs_not_params(batch):
    net = branches()
    bigger = net.with_batch(batch)
    assert bigger.input_shape == (batch, 3, 16, 16)
    assert bigger.output_shape == (batch, 6, 16, 16)
    assert bigger.params == net.params
    assert bigger.macs * 2 == net.macs * batch  # branches() has batch 2
    assert net.input_shape == (2, 3, 16, 16)  # unchanged


@pytest.mark.parametrize("batch", [0, -1, True, 1.5, "2"])
def test_with_batch_rejects_non_positive_ints(batch):
    with pytest.raises(WorkloadError, match="batch must be a positive integer"):
        residual().with_batch(batch)


def test_summary_structure():
    net = branches()
    summary = net.summary()
    assert json.loads(json.dumps(summary)) == summary  # plain data
    assert summary["network"] == "inception"
    assert summary["input_shape"] == [2, 3, 16, 16]
    assert summary["total"] == {"params": net.params, "macs": net.macs, "flops": net.flops}
    assert [row["name"] for row in summary["layers"]] == ["b3", "b5", "cat", "mix"]
    b5 = summary["layers"][1]
    assert b5 == {
        "name": "b5",
        "type": "conv",
        "inputs": ["input"],
        "input_shape": [2, 3, 16, 16],
        "output_shape": [2, 4, 16, 16],
        "kernel_size": [5, 5],
        "stride": [1, 1],
        "dilation": [1, 1],
        "groups": 1,
        "padding_mode": "zeros",
        "padding": [[2, 2], [2, 2]],
        "params": 4 * 75 + 4,
        "macs": 2 * 4 * 256 * 75,
        "flops": 2 * 2 * 4 * 256 * 75,
        "receptive_field": [5, 5],
    }
    cat = summary["layers"][2]
    assert cat["input_shape"] == [[2, 8, 16, 16], [2, 4, 16, 16]]
    assert "kernel_size" not in cat and "padding" not in cat


def test_summary_resolves_same_padding():
    layer = Conv(name="c", in_channels=1, out_channels=1, kernel_size=(3, 4), stride=2, padding="same")
    net = Network("s", (1, 1, 8, 8), [layer])
    # H: out 4, total (4-1)*2 + 3 - 8 = 1 -> (0, 1); W: total (4-1)*2 + 4 - 8 = 2 -> (1, 1)
    assert net.summary()["layers"][0]["padding"] == [[0, 1], [1, 1]]


def test_getitem_unknown_layer():
    with pytest.raises(WorkloadError, match="network 'res' has no layer 'nope'"):
        residual()["nope"]


@pytest.mark.parametrize("name", ["conv1", "input"])
def test_duplicate_or_reserved_layer_name(name):
    layers = [conv("conv1"), Activation(name=name)]
    with pytest.raises(WorkloadError, match=rf"network 'n': layer name '{name}' is used twice"):
        Network("n", (1, 4, 8, 8), layers)


@pytest.mark.parametrize(
    "inputs, missing",
    [
        (("conv1", "nope"), "nope"),
        (("conv1", "later"), "later"),  # a forward reference is not an earlier layer
    ],
)
def test_unknown_input_name(inputs, missing):
    layers = [conv("conv1"), Add(name="add", inputs=inputs), conv("later")]
    with pytest.raises(WorkloadError, match=rf"layer 'add' \(add\): inputs names '{missing}'"):
        Network("n", (1, 4, 8, 8), layers)


def test_add_needs_two_inputs_in_a_network():
    with pytest.raises(WorkloadError, match=r"layer 'add' \(add\): inputs must name at least 2"):
        Network("n", (1, 4, 8, 8), [conv("conv1"), Add(name="add")])


def test_shape_error_inside_network_names_the_layer():
    layers = [conv("conv1"), Flatten(name="flat"), Linear(name="fc", in_features=100, out_features=10)]
    with pytest.raises(WorkloadError, match=r"layer 'fc' \(linear\): in_features is 100 but the input has shape \(1, 256\)"):
        Network("n", (1, 4, 8, 8), layers)


@pytest.mark.parametrize("shape", [(1,), (1, 0, 8, 8), (0, 3, 8, 8), (1, 3, -8, 8), (1, 3.0, 8, 8), (True, 3, 8, 8)])
def test_bad_input_shape(shape):
    with pytest.raises(WorkloadError, match=r"network 'n': input_shape must be \(N, C, spatial...\)"):
        Network("n", shape, [Activation(name="a")])


def test_empty_network():
    with pytest.raises(WorkloadError, match="network 'n' has no layers"):
        Network("n", (1, 3, 8, 8), [])


def test_non_layer_in_network():
    with pytest.raises(WorkloadError, match="is not a layer"):
        Network("n", (1, 3, 8, 8), [Activation(name="a"), "conv"])
