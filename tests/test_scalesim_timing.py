"""`--timing scalesim`: SCALE-Sim 3.0.0's cycles and accesses per layer, its report CSVs, zoo networks.

Expected values are either numbers SCALE-Sim 3.0.0 printed (its own alexnet.csv; tests/data/
scalesim/mixed.csv on an 8x4 array) or derived by hand in the comments from its rules:
oh = ceil((H - R + S) / S); Npix = oh * ow, K = R * S * C, F filters; array rows / cols / time
os: (Npix, F, K), ws: (K, F, Npix), is: (K, Npix, F); folds = ceil(rows / H_a) * ceil(cols / W_a);
fold cycles os: T + H_a + W_a - 2, ws/is: 2 H_a + W_a + T - 2; Total Cycles = folds * fold - 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accel.config import AccelConfig
from accel.scalesim import model_row, node_row
from sim.cli import main
from sim.runner import simulate
from sim.scalesim_reports import BANDWIDTH_COLUMNS, COMPUTE_COLUMNS, DETAIL_COLUMNS, read_report
from workloads.errors import UserError
from workloads.layers import Conv, ConvTranspose, Linear
from workloads.network import Network
from workloads.scalesim_topology import TopologyRow, read_topology
from workloads.zoo import ZOO, get_network

DATA = Path(__file__).parent / "data" / "scalesim"

# SCALE-Sim 3.0.0, its alexnet.csv (5 conv layers as shipped), 32x32 array, 64 KiB buffers: Total Cycles.
ALEXNET_TOTAL_CYCLES = {
    "os": [121124, 334831, 113567, 168863, 112575],
    "ws": [112283, 373799, 185759, 278639, 185759],
    "is": [216599, 446249, 137663, 206495, 151199],
}


def run(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in-process: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


def cfg_for(tmp_path: Path, dataflow: str, rows: int = 32, cols: int = 32) -> Path:
    """tests/data/scalesim/scale32.cfg with another dataflow and array."""
    text = (DATA / "scale32.cfg").read_text()
    text = text.replace("Dataflow : os", f"Dataflow : {dataflow}")
    text = text.replace("ArrayHeight:    32", f"ArrayHeight: {rows}").replace(
        "ArrayWidth:     32", f"ArrayWidth: {cols}"
    )
    path = tmp_path / f"{dataflow}_{rows}x{cols}.cfg"
    path.write_text(text)
    return path


def run_json(capsys, topology: Path, config: Path, *extra: str) -> dict:
    status, out, err = run(
        capsys, "run", str(topology), "--config", str(config), "--timing", "scalesim", "--json", "-", *extra
    )
    assert status == 0, err
    return json.loads(out)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_alexnet_cycles_equal_scalesims_total_cycles(capsys, tmp_path, dataflow):
    data = run_json(capsys, DATA / "alexnet.csv", cfg_for(tmp_path, dataflow))
    assert data["mode"] == "scalesim"
    assert [layer["cycles"] for layer in data["layers"]] == ALEXNET_TOTAL_CYCLES[dataflow]
    assert data["total"]["cycles"] == sum(ALEXNET_TOTAL_CYCLES[dataflow])
    assert all(layer["stall_cycles"] == 0 for layer in data["layers"])


# H1: 10x8 input, 3x3 filter, 4 channels, 20 filters, stride 1 -> oh 8, ow 6, Npix 48, K 36, F 20,
# on a non-square array of 8 rows x 16 columns.
H1 = TopologyRow("H1", 10, 8, 3, 3, 4, 20, 1, 1)


@pytest.mark.parametrize(
    "dataflow, folds, fold_cycles, cycles, ifmap_reads, filter_reads, ofmap_writes",
    [
        # os: rows Npix 48 -> 6 folds, cols F 20 -> 2, T = K = 36: 36 + 8 + 16 - 2 = 58; 12 * 58 - 1.
        # ifmap 2 col folds x 48 x 36, filter 6 row folds x 36 x 20, ofmap once 48 x 20.
        ("os", (6, 2), 58, 695, 2 * 48 * 36, 6 * 36 * 20, 48 * 20),
        # ws: rows K 36 -> 5, cols F 20 -> 2, T = Npix = 48: 16 + 16 + 48 - 2 = 78; 10 * 78 - 1.
        # ifmap 2 col folds x 48 x 36, filter once, ofmap partial sums once per row fold.
        ("ws", (5, 2), 78, 779, 2 * 48 * 36, 36 * 20, 5 * 48 * 20),
        # is: rows K 36 -> 5, cols Npix 48 -> 3, T = F = 20: 16 + 16 + 20 - 2 = 50; 15 * 50 - 1.
        ("is", (5, 3), 50, 749, 48 * 36, 3 * 36 * 20, 5 * 48 * 20),
    ],
)
def test_hand_derived_layer_on_a_non_square_array(dataflow, folds, fold_cycles, cycles, ifmap_reads, filter_reads,
                                                  ofmap_writes):  # fmt: skip
    layer = model_row(H1, 8, 16, dataflow)
    assert (layer.row_folds, layer.col_folds) == folds
    assert (layer.fold_cycles, layer.cycles) == (fold_cycles, cycles)
    assert layer.sram_reads == {"ifmap": ifmap_reads, "filter": filter_reads}
    assert layer.ofmap_writes == ofmap_writes
    assert layer.macs == 48 * 36 * 20
    assert layer.utilization == pytest.approx(48 * 36 * 20 / (cycles * 8 * 16))
    # Mapped PEs over all folds: Npix x F (os), K x F (ws), K x Npix (is) of folds x 128.
    mapped = {"os": 48 * 20, "ws": 36 * 20, "is": 36 * 48}[dataflow] / (folds[0] * folds[1] * 128)
    assert layer.mapping_efficiency == pytest.approx(mapped)


@pytest.mark.parametrize(
    "dataflow, cycles",
    [
        # G: M 100, N 10, K 50 on 8 rows x 16 columns.
        ("os", 13 * (50 + 8 + 16 - 2) - 1),  # rows M -> 13, cols N -> 1, T = K: 935
        ("ws", 7 * (2 * 8 + 16 + 100 - 2) - 1),  # rows K -> 7, cols N -> 1, T = M: 909
        ("is", 7 * 7 * (2 * 8 + 16 + 10 - 2) - 1),  # rows K -> 7, cols M -> 7, T = N: 1959
    ],
)
def test_hand_derived_gemm_topology(capsys, tmp_path, dataflow, cycles):
    data = run_json(capsys, DATA / "gemm.csv", cfg_for(tmp_path, dataflow, 8, 16))
    g = data["layers"][0]
    assert (g["name"], g["gemm"]["m"], g["gemm"]["k"], g["gemm"]["n"]) == ("G", 100, 50, 10)
    assert g["cycles"] == cycles
    assert g["pe_ops"] == g["macs"] == 100 * 10 * 50


def test_depthwise_row_is_one_scalesim_layer_per_channel(capsys, tmp_path):
    # convDP: 6x6, 3x3, 4 channels, 2 filters -> 4 layers of Npix 16, K 9, F 2. os on 8x16:
    # rows 16 -> 2 folds, cols 2 -> 1, T 9: 2 * (9 + 22) - 1 = 61 each.
    data = run_json(capsys, DATA / "mixed.csv", cfg_for(tmp_path, "os", 8, 16))
    dp = data["layers"][1]
    assert (dp["name"], dp["gemm"]["groups"], dp["cycles"], dp["folds"]) == ("convDP", 4, 4 * 61, 4 * 2)


# SCALE-Sim 3.0.0 on tests/data/scalesim/mixed.csv, 8x4 array: Total Cycles of its 7 layers (convDP
# is layers 1-4) and the SRAM IFMAP Stop Cycle of 'Partial' and 'Outside', whose last windows reach
# past the input (SCALE-Sim's ceil output size), so their last ifmap reads come early.
MIXED_8X4 = {
    "os": ([1379, 37, 37, 37, 37, 239, 127], (236, 122)),
    "ws": ([1649, 67, 67, 67, 67, 407, 207], (402, 200)),
    "is": ([2279, 159, 159, 159, 159, 463, 99], (443, 58)),
}


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_reports_match_numbers_scalesim_printed(capsys, tmp_path, dataflow):
    out = tmp_path / "reports"
    status, _, err = run(capsys, "run", str(DATA / "mixed.csv"), "--config", str(cfg_for(tmp_path, dataflow, 8, 4)),
                         "--timing", "scalesim", "--scalesim-reports", str(out), "-q")  # fmt: skip
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "BANDWIDTH_REPORT.csv",
        "COMPUTE_REPORT.csv",
        "DETAILED_ACCESS_REPORT.csv",
    ]
    compute, detail = read_report(out / "COMPUTE_REPORT.csv"), read_report(out / "DETAILED_ACCESS_REPORT.csv")
    total, stops = MIXED_8X4[dataflow]
    assert [row["LayerID"] for row in compute] == list(range(7))
    assert [row["Total Cycles"] for row in compute] == total
    assert (detail[5]["SRAM IFMAP Stop Cycle"], detail[6]["SRAM IFMAP Stop Cycle"]) == stops


def test_report_layout_and_values_for_alexnet_conv3(capsys, tmp_path):
    """SCALE-Sim printed, for Conv3 under os: COMPUTE '2, 117270, 113567, 0, 92.05491031725765, 94.53125,
    92.05409974640747,', DETAILED SRAM '1.0, 113530.0, 3345408, 1.0, 113537.0, 3538944, 2303.0, 113567.0,
    49536', BANDWIDTH SRAM '29.45757130152245, 31.161728318965896, 0.43618304613135855'."""
    out = tmp_path / "reports"
    status, _, err = run(capsys, "run", str(DATA / "alexnet.csv"), "--config", str(DATA / "scale32.cfg"),
                         "--timing", "scalesim", "--scalesim-reports", str(out), "-q")  # fmt: skip
    assert status == 0, err
    headers = {name: (out / name).read_text().splitlines()[0] for name in
               ("COMPUTE_REPORT.csv", "DETAILED_ACCESS_REPORT.csv", "BANDWIDTH_REPORT.csv")}  # fmt: skip
    assert headers["COMPUTE_REPORT.csv"] == (
        "LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,"
    )
    assert headers["DETAILED_ACCESS_REPORT.csv"].startswith(
        "LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, SRAM Filter Start Cycle,"
    )
    assert headers["DETAILED_ACCESS_REPORT.csv"].endswith(
        "DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,"
    )
    assert headers["BANDWIDTH_REPORT.csv"] == (
        "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,"
    )
    assert [len(cols) for cols in (COMPUTE_COLUMNS, DETAIL_COLUMNS, BANDWIDTH_COLUMNS)] == [7, 19, 7]
    compute = read_report(out / "COMPUTE_REPORT.csv")[2]
    assert (compute["Total Cycles"], compute["Stall Cycles"]) == (113567, 0)
    assert compute["Overall Util %"] == 92.05491031725765
    assert compute["Mapping Efficiency %"] == 94.53125
    assert compute["Compute Util %"] == pytest.approx(92.05409974640747, rel=1e-12)
    detail = read_report(out / "DETAILED_ACCESS_REPORT.csv")[2]
    sram = [detail[c] for c in DETAIL_COLUMNS[1:10]]
    # The true ofmap write count: SCALE-Sim adds H_a + W_a = 64 per fold, 48 folds: 49536 - 3072.
    assert sram == [1, 113530, 3345408, 1, 113537, 3538944, 2303, 113567, 49536 - 48 * 64]
    # DRAM: each tensor once (13x13x256 ifmap, 3x3x256x384 filter, 11x11x384 ofmap) over the SRAM window.
    assert [detail[c] for c in DETAIL_COLUMNS[10:]] == [1, 113530, 43264, 1, 113537, 884736, 2303, 113567, 46464]
    bandwidth = read_report(out / "BANDWIDTH_REPORT.csv")[2]
    assert (bandwidth["Avg IFMAP SRAM BW"], bandwidth["Avg FILTER SRAM BW"]) == (29.45757130152245, 31.161728318965896)
    assert bandwidth["Avg OFMAP SRAM BW"] == 46464 / 113567
    assert bandwidth["Avg IFMAP DRAM BW"] == 43264 / 113530


def test_json_counts_for_one_layer(capsys, tmp_path):
    data = run_json(capsys, DATA / "alexnet.csv", DATA / "scale32.cfg")
    conv3 = data["layers"][2]
    assert conv3["sram"] == {"ifmap_reads": 3345408, "ifmap_writes": 43264, "filter_reads": 3538944,
                             "filter_writes": 884736, "ofmap_reads": 0, "ofmap_writes": 46464}  # fmt: skip
    assert conv3["dram"]["total_bytes"] == conv3["dram"]["compulsory_bytes"] == 43264 + 884736 + 46464
    assert conv3["utilization"] == pytest.approx(0.9205491031725765, rel=1e-15)
    assert (conv3["tiles"], conv3["folds"], conv3["loop_order"]) == (1, 48, "-")


# -- zoo networks -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ZOO))
def test_every_zoo_network_runs_under_scalesim_timing(name):
    network = get_network(name)
    report = simulate(network, AccelConfig(rows=16, cols=8), timing="scalesim")
    assert report.layers and all(layer.cycles > 0 for layer in report.layers)
    assert report.total["cycles"] == sum(layer.cycles for layer in report.layers)


def test_zoo_layers_as_scalesim_rows():
    lenet = get_network("lenet5")
    # conv1: 28x28 padded by 2 -> a 32x32 row; 6 filters of 5x5 over 1 channel.
    assert node_row(lenet["conv1"]) == (TopologyRow("conv1", 32, 32, 5, 5, 1, 6, 1, 1), 1)
    pool = next(node for node in lenet if node.kind.endswith("pool"))
    row, count = node_row(pool)  # one single-filter row per channel, like a SCALE-Sim DP row
    assert (row.channels, row.filters, count) == (1, 1, pool.in_shapes[0][1])
    assert node_row(lenet["fc3"])[0] == TopologyRow("fc3", 1, 1, 1, 1, 84, 10, 1, 1)  # SCALE-Sim's FC row
    mobilenet = get_network("mobilenet_v1")
    row, count = node_row(mobilenet["dw1"])  # depthwise 3x3 over 32 channels, stride 1, pad 1
    assert (row, count) == (TopologyRow("dw1", 114, 114, 3, 3, 1, 1, 1, 1), 32)
    row, count = node_row(mobilenet["avgpool"])  # global pool over 7x7: one 7x7 window per channel
    assert (row, count) == (TopologyRow("avgpool", 7, 7, 7, 7, 1, 1, 1, 1), 1024)
    m5 = get_network("m5")
    assert node_row(m5["conv1"]) == (TopologyRow("conv1", 8000, 1, 80, 1, 1, 32, 16, 1), 1)  # 1-D: L x 1
    assert node_row(m5["bn1"]) is None  # off the array


def test_batch_repeats_conv_rows_and_widens_fc_rows():
    lenet = get_network("lenet5")
    one = simulate(lenet, AccelConfig(), timing="scalesim")
    four = simulate(lenet.with_batch(4), AccelConfig(), timing="scalesim")
    assert four.layers[0].cycles == 4 * one.layers[0].cycles
    assert node_row(lenet.with_batch(4)["fc3"]) == (TopologyRow("fc3", 4, 1, 1, 1, 84, 10, 1, 1), 1)


# -- errors -------------------------------------------------------------------------------------


def test_layers_without_a_scalesim_row_are_errors():
    dilated = Network("d", (1, 2, 9, 9), [Conv(name="c", in_channels=2, out_channels=2, kernel_size=3, dilation=2)])
    with pytest.raises(
        UserError, match=r"layer 'c' \(conv\): dilation \(2, 2\) has no SCALE-Sim row; use --timing native"
    ):
        simulate(dilated, AccelConfig(), timing="scalesim")
    volume = Network("v", (1, 2, 4, 4, 4), [Conv(name="c3", in_channels=2, out_channels=2, kernel_size=(3, 3, 3))])
    with pytest.raises(UserError, match="is 3-D; SCALE-Sim rows are 2-D"):
        simulate(volume, AccelConfig(), timing="scalesim")
    up = Network("u", (1, 2, 4, 4), [ConvTranspose(name="up", in_channels=2, out_channels=2, kernel_size=2, stride=2)])
    with pytest.raises(UserError, match=r"layer 'up' \(\w+\): a transposed conv has no SCALE-Sim row"):
        simulate(up, AccelConfig(), timing="scalesim")


def test_bad_timing_and_mode_combinations(capsys):
    fc = Network("f", (1, 4), [Linear(name="fc", in_features=4, out_features=2)])
    with pytest.raises(UserError, match="timing must be one of native, scalesim, not 'fast'"):
        simulate(fc, AccelConfig(), timing="fast")
    with pytest.raises(UserError, match="functional mode computes values on the native array"):
        simulate(fc, AccelConfig(), mode="functional", timing="scalesim")
    status, out, err = run(capsys, "run", "lenet5", "--scalesim-reports", "x")
    assert (status, out) == (2, "") and err == "error: --scalesim-reports needs --timing scalesim\n"


def test_native_timing_runs_scalesim_files_too(capsys):
    status, out, err = run(
        capsys, "run", str(DATA / "alexnet.csv"), "--config", str(DATA / "scale32.cfg"), "--json", "-"
    )
    assert status == 0, err
    data = json.loads(out)
    assert data["mode"] == "cycle" and [layer["name"] for layer in data["layers"]] == [f"Conv{i}" for i in range(1, 6)]


def test_topology_network_keeps_the_csv_rows():
    """Mapping the read network back gives the file's rows: SCALE-Sim's numbers come from them."""
    network = read_topology(DATA / "alexnet.csv")
    assert node_row(network["Conv1"]) == (TopologyRow("Conv1", 224, 224, 11, 11, 3, 96, 4, 4), 1)
    assert node_row(read_topology(DATA / "mixed.csv")["convDP"]) == (TopologyRow("convDP", 6, 6, 3, 3, 1, 2, 1, 1), 4)
    assert node_row(read_topology(DATA / "gemm.csv")["G"]) == (TopologyRow("G", 100, 1, 1, 1, 50, 10, 1, 1), 1)
