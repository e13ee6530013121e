"""Energy model: hand-calculated layers, interpolation, width scaling, presets, user tables."""

from __future__ import annotations

import math

import pytest

from accel.config import AccelConfig
from accel.dse import evaluate
from accel.energy import Actions, EnergyTable, EnergyTableError, energy, report_energy
from sim.runner import simulate
from workloads.layers import Linear
from workloads.network import Network
from workloads.zoo import get_network


def fc4() -> Network:
    """One 4 -> 4 fully connected layer without bias on a batch of one."""
    return Network("fc4", (1, 4), [Linear(name="fc", in_features=4, out_features=4, bias=False)])


# Buffers whose *bank* (half the buffer) sits exactly on Horowitz's table points:
# 8 KiB -> 10 pJ, 32 KiB -> 20 pJ, 1 MiB -> 100 pJ per 64-bit access.
HAND_CONFIG = {
    "rows": 4,
    "cols": 4,
    "ifmap_kib": 16,
    "filter_kib": 64,
    "ofmap_kib": 2048,
    "dram_bandwidth": 16.0,
}


def test_fc_layer_weight_stationary_by_hand():
    config = AccelConfig(dataflow="ws", **HAND_CONFIG)
    report = simulate(fc4(), config, mode="analytic").to_dict()
    layer = report["layers"][0]
    # GEMM M=1, K=4, N=4 on a 4x4 WS array: one tile, one fold.
    # ifmap reads M*K*ceil(N/C) = 4, filter reads K*N = 16, accumulator writes M*N*ceil(K/R) = 4,
    # accumulator reads 4 - 4 (first write) + 4 (read for writeback) = 4.
    assert layer["sram"]["ifmap_reads"] == 4
    assert layer["sram"]["filter_reads"] == 16
    assert layer["sram"]["ofmap_writes"] == 4
    assert layer["sram"]["ofmap_reads"] == 4
    # DRAM: 4 input bytes, the 16-byte weight image and 4 int32 addends, 4 output bytes (int8).
    assert (
        layer["dram"]["ifmap_read_bytes"],
        layer["dram"]["filter_read_bytes"],
        layer["dram"]["ofmap_write_bytes"],
    ) == (4, 32, 4)
    assert layer["pe_ops"] == 16

    e = report_energy(report)["layers"][0]
    # MAC: 16 x (8x8 multiply 0.2 pJ + 32-bit add 0.1 pJ) = 4.8 pJ
    assert e["mac"] == pytest.approx(4.8)
    # Registers: WS moves the input (8 b) and the partial sum (32 b): 16 ops x 40 b = 640 b;
    # 16 weights loaded through shadow + stationary register: 16 x 2 x 8 b = 256 b;
    # 896 b x 0.005 pJ/b = 4.48 pJ
    assert e["register"] == pytest.approx(4.48)
    # ifmap SRAM (8 KiB bank, 10 pJ / 64 b): reads 4 x 8 b + fill 4 B x 8 = 64 b -> 10 pJ
    assert e["ifmap_sram"] == pytest.approx(10.0)
    # filter SRAM (32 KiB bank, 20 pJ / 64 b): reads 16 x 8 b + fill 32 B x 8 = 384 b -> 120 pJ
    assert e["filter_sram"] == pytest.approx(120.0)
    # accumulator SRAM (1 MiB bank, 100 pJ / 64 b): (4 reads + 4 writes) x 32 b = 256 b -> 400 pJ
    assert e["ofmap_sram"] == pytest.approx(400.0)
    # DRAM: 40 B x 8 b x 8 pJ/b (LPDDR4) = 2560 pJ
    assert e["dram"] == pytest.approx(2560.0)
    assert e["total"] == pytest.approx(4.8 + 4.48 + 10 + 120 + 400 + 2560)


def test_fc_layer_output_stationary_registers_by_hand():
    config = AccelConfig(dataflow="os", **HAND_CONFIG)
    report = simulate(fc4(), config, mode="analytic").to_dict()
    layer = report["layers"][0]
    # OS (rows M, cols N): accumulators stationary, written once each: M*N = 4.
    assert layer["sram"]["ofmap_writes"] == 4
    e = report_energy(report)["layers"][0]
    # OS moves input (8 b) and weight (8 b) and updates the accumulator (32 b): 16 x 48 b = 768 b;
    # 4 results pass shadow + drain registers: 4 x 2 x 32 b = 256 b; 1024 b x 0.005 = 5.12 pJ
    assert e["register"] == pytest.approx(5.12)


def test_sweep_energy_equals_per_layer_energy_of_sim_run():
    net = get_network("lenet5")
    for dataflow in ("ws", "os", "is"):
        config = AccelConfig(
            rows=8,
            cols=16,
            dataflow=dataflow,
            ifmap_kib=32,
            filter_kib=16,
            ofmap_kib=64,
        )
        by_layer = report_energy(simulate(net, config, mode="analytic").to_dict())["total"]
        row = evaluate(net, config)
        assert row["energy_uj"] == pytest.approx(by_layer["total"] * 1e-6, rel=1e-12)
        for category in (
            "mac",
            "register",
            "ifmap_sram",
            "filter_sram",
            "ofmap_sram",
            "dram",
        ):
            assert row[f"energy_{category}_uj"] == pytest.approx(by_layer[category] * 1e-6, rel=1e-12)


def test_max_pooling_counts_compares_and_vector_layers_adds():
    table = EnergyTable()
    config = AccelConfig()
    pool = {"type": "maxpool", "pe_ops": 100, "folds": 1,
            "sram": {"ifmap_reads": 0, "filter_reads": 0, "ofmap_reads": 0, "ofmap_writes": 0},
            "dram": {"ifmap_read_bytes": 0, "filter_read_bytes": 0, "total_bytes": 0}}  # fmt: skip
    actions = Actions.from_layer(pool, "ws")
    assert (actions.mac_ops, actions.compare_ops) == (0, 100)
    assert energy(actions, config, table)["mac"] == pytest.approx(100 * 0.1)  # 32-bit compare = add
    add = {"type": "add", "pe_ops": 0, "folds": 0,
           "sram": {"ifmap_reads": 50, "filter_reads": 0, "ofmap_reads": 25, "ofmap_writes": 25},
           "dram": {"ifmap_read_bytes": 50, "filter_read_bytes": 0, "total_bytes": 75}}  # fmt: skip
    actions = Actions.from_layer(add, "ws")
    assert (actions.vector_ops, actions.mac_ops, actions.stationary_loads) == (50, 0, 0)
    assert energy(actions, config, table)["register"] == 0


def test_sram_energy_is_a_power_law_between_table_points():
    t = EnergyTable()
    assert t.sram_per_bit(8) * 64 == pytest.approx(10.0)
    assert t.sram_per_bit(32) * 64 == pytest.approx(20.0)
    assert t.sram_per_bit(1024) * 64 == pytest.approx(100.0)
    # Halfway in log size between 8 and 32 KiB: the geometric mean 10 * sqrt(2).
    assert t.sram_per_bit(16) * 64 == pytest.approx(10 * math.sqrt(2))
    # Below the table: the 8-32 KiB law (E ~ size^0.5) extended: 2 KiB -> 5 pJ.
    assert t.sram_per_bit(2) * 64 == pytest.approx(5.0)
    # Above: the 32 KiB - 1 MiB law extended: 4 MiB -> 100 * 4^(ln 5 / ln 32).
    assert t.sram_per_bit(4096) * 64 == pytest.approx(100 * 4 ** (math.log(5) / math.log(32)))
    sizes = [1, 3, 8, 20, 64, 500, 1024, 8192]
    energies = [t.sram_per_bit(s) for s in sizes]
    assert energies == sorted(energies) and min(energies) > 0


def test_arithmetic_scales_with_operand_widths():
    t = EnergyTable()
    assert t.mult(8, 8) == pytest.approx(0.2)
    assert t.mult(32, 32) == pytest.approx(3.2)  # Horowitz: 3.1 pJ
    assert t.add(32) == pytest.approx(0.1)
    assert t.add(8) == pytest.approx(0.025)  # Horowitz: 0.03 pJ


def test_dram_presets():
    t = EnergyTable()
    assert (t.dram, t.dram_pj_per_bit) == ("lpddr4", 8.0)
    assert t.with_dram("hbm2").dram_pj_per_bit == 3.9
    assert t.with_dram("DDR3").dram_pj_per_bit == 70.0
    with pytest.raises(EnergyTableError, match="dram must be one of lpddr4, hbm2, ddr3, not 'gddr9'"):
        t.with_dram("gddr9")


def test_user_table_from_toml(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text(
        '[energy]\nname = "28 nm"\nmult_pj = 0.1\ndram = "hbm2"\n[energy.sram_pj_per_64b]\n4 = 4.0\n64 = 16.0\n'
    )
    t = EnergyTable.load(path)
    assert (t.name, t.mult_pj, t.add_pj, t.dram_pj_per_bit) == ("28 nm", 0.1, 0.1, 3.9)
    assert t.sram_per_bit(16) * 64 == pytest.approx(8.0)  # 4 -> 64 KiB: E ~ size^0.5
    assert EnergyTable.from_dict(t.to_dict()) == t


@pytest.mark.parametrize(
    "text, message",
    [
        ("mult_pj = -1\n", "mult_pj must be a non-negative number of pJ, not -1"),
        ("mult_pj = 'x'\n", "mult_pj must be a non-negative number of pJ"),
        ("flops_pj = 1\n", "unknown key 'flops_pj'"),
        ("[sram_pj_per_64b]\n8 = 10.0\n", "at least two bank sizes"),
        (
            "[sram_pj_per_64b]\n8 = 10.0\n32 = 0\n",
            r"sram_pj_per_64b\[32\] must be a positive number",
        ),
        ("dram = 'sdram'\n", "dram must be one of"),
        ("mult_pj = \n", "not valid TOML"),
    ],
)
def test_bad_user_tables(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(EnergyTableError, match=message):
        EnergyTable.load(path)


def test_missing_table_file(tmp_path):
    with pytest.raises(EnergyTableError, match="does not exist"):
        EnergyTable.load(tmp_path / "nope.toml")


def test_sim_run_energy_json_and_table(capsys):
    from sim.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "run",
                "lenet5",
                "--mode",
                "analytic",
                "--energy",
                "--dram",
                "hbm2",
                "--json",
                "-",
            ]
        )
    assert exit_info.value.code in (0, None)
    import json

    data = json.loads(capsys.readouterr().out)
    section = data["energy"]
    assert section["unit"] == "pJ" and section["table"]["dram_pj_per_bit"] == 3.9
    assert [layer["name"] for layer in section["layers"]] == [layer["name"] for layer in data["layers"]]
    total = section["total"]
    assert total["total"] == pytest.approx(sum(layer["total"] for layer in section["layers"]))
    row = evaluate(
        get_network("lenet5"),
        AccelConfig(),
        energy_table=EnergyTable().with_dram("hbm2"),
    )
    assert row["energy_uj"] == pytest.approx(total["total"] * 1e-6, rel=1e-12)

    with pytest.raises(SystemExit) as exit_info:
        main(["run", "lenet5", "--mode", "analytic", "--energy"])
    out = capsys.readouterr().out
    assert exit_info.value.code in (0, None)
    assert "energy (uJ)" in out and "accum. SRAM" in out and "lpddr4 8.0 pJ/bit" in out
