"""SCALE-Sim topology CSVs: conv and GEMM formats, depthwise rows, and errors with file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from workloads.errors import WorkloadError
from workloads.layers import Conv
from workloads.scalesim_topology import TopologyRow, read_topology
from workloads.sources import load_network

DATA = Path(__file__).parent / "data" / "scalesim"
CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def topology(tmp_path: Path, text: str, name: str = "net.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_alexnet_rows_become_independent_convs():
    network = load_network(str(DATA / "alexnet.csv"))
    assert network.name == "alexnet"
    assert [n.name for n in network] == ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]
    assert [n.in_shapes[0] for n in network] == [
        (1, 3, 224, 224), (1, 96, 27, 27), (1, 256, 13, 13), (1, 384, 13, 13), (1, 384, 13, 13),
    ]  # fmt: skip
    conv1 = network["Conv1"].layer
    assert isinstance(conv1, Conv)
    assert (conv1.kernel_size, conv1.stride, conv1.out_channels, conv1.bias) == ((11, 11), (4, 4), 96, False)
    assert conv1.pads((224, 224)) == ((0, 0), (0, 0))  # SCALE-Sim inputs come padded
    # Each layer reads its own input, not the previous layer's output.
    assert network["Conv2"].inputs == ("Conv2/ifmap",)
    assert network.extra_inputs["Conv2/ifmap"] == (1, 96, 27, 27)


def test_quirks_of_real_files_are_accepted(tmp_path):
    """Blank lines, tabs, a comment after the trailing comma, a missing trailing comma, a dense 1:1 column."""
    path = topology(
        tmp_path, CONV_HEADER + "\n\tc1, 8, 8, 3, 3, 2, 4, 1,#dw\nc2,8,8,1,1,2,4,1\nc3, 8, 8, 1, 1, 2, 4, 2, 1:1,\n"
    )
    network = read_topology(path)
    assert [n.out_shape for n in network] == [(1, 4, 6, 6), (1, 4, 8, 8), (1, 4, 4, 4)]


def test_depthwise_rows_are_grouped_convs(tmp_path):
    """SCALE-Sim runs a row named *DP* as Channels single-channel layers of Num Filter filters each."""
    network = read_topology(
        topology(tmp_path, CONV_HEADER + "conv_DP1, 6, 6, 3, 3, 4, 2, 1,\nplain, 6, 6, 3, 3, 4, 2, 1,\n")
    )
    dp, plain = network["conv_DP1"].layer, network["plain"].layer
    assert (dp.groups, dp.in_channels, dp.out_channels) == (4, 4, 8)
    assert (plain.groups, plain.out_channels) == (1, 2)


def test_gemm_rows_are_1x1_convs_over_m_pixels():
    network = read_topology(DATA / "gemm.csv")
    g = network["G"]
    assert g.in_shapes[0] == (1, 50, 100, 1)  # K channels, M x 1 pixels
    assert g.out_shape == (1, 10, 100, 1)  # N filters
    assert g.macs == 100 * 10 * 50


def test_gemm_header_is_detected_case_and_space_insensitively(tmp_path):
    network = read_topology(topology(tmp_path, "layer,m,n,k,\nfc, 4, 3, 2,\n"))
    assert network["fc"].in_shapes[0] == (1, 2, 4, 1)


def test_row_output_size_is_scalesims_ceil():
    """ceil((H - R + S) / S): AlexNet conv1 on 224 has 55 output rows in SCALE-Sim, 54 in PyTorch."""
    row = TopologyRow("Conv1", 224, 224, 11, 11, 3, 96, 4, 4)
    assert (row.ofmap_h, row.ofmap_w, row.pixels, row.window) == (55, 55, 3025, 363)


@pytest.mark.parametrize(
    "body, where, message",
    [
        ("c1, 8, 8, 3, x, 2, 4, 1,\n", ":2: column 5 (Filter Width)", "an integer from 1 to 2**24 (16,777,216), not 'x'"),
        ("c1, 8, 8, 3, 3, 2, 4, 123456789012345678901,\n", ":2: column 8 (Strides)", "(16,777,216), not '1234"),
        ("c1, 16777217, 8, 3, 3, 2, 4, 1,\n", ":2: column 2 (IFMAP Height)", "not '16777217'"),
        ("c1, 8, 8, 3, 3, 0, 4, 1,\n", ":2: column 6 (Channels)", "not '0'"),
        ("c1, 8, 8, 3, 3, 2, 4, -1,\n", ":2: column 8 (Strides)", "not '-1'"),
        (
            "\nc1, 8, 8, 3, 3, 2, 4, 1,\nc2, 8, 4, 3, 5, 2, 4, 1,\n",
            ":4: column 5 (Filter Width)",
            "5 is larger than the input (IFMAP Width 4)",
        ),
        ("c1, 8, 8, 3, 3, 2, 4,\n", ":2", "expected 8 columns (Layer name, IFMAP Height,"),
        (" , 8, 8, 3, 3, 2, 4, 1,\n", ":2: column 1 (Layer name)", "the layer name is empty"),
        ("c1, 8, 8, 3, 3, 2, 4, 1, 2:4,\n", ":2: column 9 (Sparsity (N:M))", "sparse layers (2:4) are not supported"),
        ("c1, 8, 8, 3, 3, 2, 4, 1, x,\n", ":2: column 9 (Sparsity (N:M))", "must look like 1:1"),
        ("c1, 8, 8, 3, 3, 2, 4, 1,\nc1, 8, 8, 3, 3, 2, 4, 1,\n", ":3: column 1 (layer name)", "already used on line 2"),
    ],
)
def test_malformed_rows_name_file_line_and_column(tmp_path, body, where, message):
    path = topology(tmp_path, CONV_HEADER + body)
    with pytest.raises(WorkloadError) as err:
        read_topology(path)
    text = str(err.value)
    assert text.startswith(f"{path}{where}: ") and message in text, text
    assert "\n" not in text


def test_malformed_gemm_row(tmp_path):
    path = topology(tmp_path, "Layer, M, N, K,\nfc, 4, 3,\n")
    with pytest.raises(WorkloadError, match=r"net\.csv:2: expected 4 columns \(Layer, M, N, K\)"):
        read_topology(path)


@pytest.mark.parametrize("text", ["", "c1, 8, 8, 3, 3, 2, 4, 1,\n", "name, a, b\n"])
def test_a_missing_or_wrong_header_is_an_error(tmp_path, text):
    with pytest.raises(WorkloadError, match=r"net\.csv(:1: the first line must be a SCALE-Sim header|: empty file)"):
        read_topology(topology(tmp_path, text))


def test_header_only_is_an_error(tmp_path):
    with pytest.raises(WorkloadError, match="no layers after the header"):
        read_topology(topology(tmp_path, CONV_HEADER + "\n"))


def test_missing_file_through_load_network(tmp_path):
    with pytest.raises(WorkloadError, match="SCALE-Sim topology file .*nope.csv does not exist"):
        load_network(str(tmp_path / "nope.csv"))
