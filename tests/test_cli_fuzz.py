"""The ``sim`` command line under random flags and random input files.

Whatever the input, a command ends with status 0, 2 (one ``error:`` line, at most three lines on
stderr), or 1 where a check can find a mismatch (``sim run --mode functional``); never a
traceback; an output path holds a file only when the command succeeded; and nothing at an output
path that is not a regular file is ever replaced. Commands run in this process (``sim.cli.main``)
to keep the examples cheap; hypothesis is derandomized so every run tries the same inputs.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sim.cli import main

FUZZ = settings(
    max_examples=60, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)

# Sizes a user could type by mistake (zero, negative, beyond int64) next to ordinary ones.
INTS = st.one_of(st.integers(1, 64), st.sampled_from([0, -1, -(2**31), 2**31 - 1, 2**40, 2**63, 10**30, 3, 1000]))
FLOATS = st.one_of(
    st.floats(1e-3, 1e3), st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e-300", "1e300", "x", "1,5"])
)
WORDS = st.sampled_from(["ws", "os", "is", "WS", "", "bogus", "cycle", "analytic", "functional", "native", "scalesim"])


def run_sim(argv: list[str]) -> tuple[int, str]:
    """``sim ARGV`` in this process: exit status and stderr."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exit:
            return exit.code, err.getvalue()
    raise AssertionError("sim.cli.main returned without exiting")


def file_kind(path: Path) -> int | None:
    try:
        return stat.S_IFMT(path.lstat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return None


def output_path(workdir: Path, kind: str, name: str) -> Path:
    """An output path of the given kind: fresh, an existing directory, a symlink to a file, a FIFO
    nobody reads, a path under a regular file, or a character device."""
    path = workdir / name
    if kind == "directory":
        path.mkdir()
    elif kind == "symlink":
        (workdir / f"{name}.target").write_text("old")
        path.symlink_to(workdir / f"{name}.target")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "under_a_file":
        (workdir / f"{name}.file").write_text("old")
        path = workdir / f"{name}.file" / "x"
    elif kind == "device":
        return Path(os.devnull)
    return path


# Half the time a fresh path, so that some commands get as far as writing.
OUTPUT_KINDS = st.sampled_from(["fresh"] * 6 + ["directory", "symlink", "fifo", "under_a_file", "device", "symlink"])


def check(argv: list[str], outputs: list[Path], may_mismatch: bool = False) -> None:
    """Run ``argv`` and assert the properties of the module docstring for its ``outputs``."""
    before = {path: file_kind(path) for path in outputs}
    status, err = run_sim(argv)
    event(f"exit status {status}")
    allowed = {0, 2} | ({1} if may_mismatch else set())
    assert status in allowed, (argv, status, err)
    assert "Traceback" not in err, (argv, err)
    if status != 0:
        assert len(err.splitlines()) <= 3 and "error: " in err, (argv, err)
    for path, kind in before.items():
        if kind not in (None, stat.S_IFREG, stat.S_IFLNK):
            assert file_kind(path) == kind, f"{argv}: {path} was replaced"
        if kind is None and status != 0:
            assert file_kind(path) is None, f"{argv} failed but wrote {path}"
        if kind == stat.S_IFLNK:
            assert path.is_symlink(), f"{argv}: the symlink {path} was replaced"


def option(name: str, values) -> st.SearchStrategy[list[str]]:
    """``[name, value]`` or nothing."""
    return st.one_of(st.just([]), values.map(lambda v: [name, str(v)]))


# ---------------------------------------------------------------------------------------------
# Random input files
# ---------------------------------------------------------------------------------------------

CONFIG_KEYS = ["rows", "cols", "dataflow", "ifmap_kib", "filter_kib", "ofmap_kib", "dram_bandwidth", "dram_latency",
               "clock_mhz", "input_bits", "weight_bits", "acc_bits", "bogus"]  # fmt: skip
TOML_VALUES = st.one_of(
    INTS.map(str), st.sampled_from(['"ws"', '"os"', '"x"', "1.5", "true", "[1]", "inf", "nan", "{}"])
)


@st.composite
def toml_config(draw) -> str:
    lines = [f"{draw(st.sampled_from(CONFIG_KEYS))} = {draw(TOML_VALUES)}" for _ in range(draw(st.integers(0, 4)))]
    header = draw(st.sampled_from(["", "[accelerator]\n", "[other]\n"]))
    return header + "\n".join(lines) + "\n"


CFG_KEYS = ["ArrayHeight", "ArrayWidth", "IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB", "Dataflow", "Bandwidth"]


@st.composite
def scalesim_config(draw) -> str:
    values = st.one_of(INTS.map(str), st.sampled_from(["os", "ws", "is", "x", "", "1.5"]))
    lines = [f"{key}: {draw(values)}" for key in draw(st.lists(st.sampled_from(CFG_KEYS), max_size=7))]
    sections = ["[architecture_presets]\n", "[general]\nrun_name = x\n[architecture_presets]\n", ""]
    header = draw(st.sampled_from(sections))
    return header + "\n".join(lines) + "\n"


# Layer dimensions stay small when valid: a functional run computes every value.
DIMS = st.one_of(
    st.integers(1, 12), st.sampled_from(["0", "-3", "x", "", "1.5", str(2**31 - 1), str(2**40), str(2**63)])
)


@st.composite
def topology_csv(draw) -> str:
    if draw(st.booleans()):
        header = "Layer, M, N, K,"
        rows = [f"G{i}, " + ", ".join(str(draw(DIMS)) for _ in range(3)) + "," for i in range(draw(st.integers(0, 3)))]
    else:
        header = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
        rows = [f"C{i}, " + ", ".join(str(draw(DIMS)) for _ in range(7)) + "," for i in range(draw(st.integers(0, 3)))]
    if draw(st.booleans()):
        header = draw(st.sampled_from(["", "Layer", "a,b,c", header[:20]]))
    return "\n".join([header, *rows]) + "\n"


@st.composite
def onnx_model(draw) -> bytes:
    """A one-Conv ONNX model with random attributes, sometimes with its bytes damaged."""
    pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    cin, cout, k = (draw(st.integers(1, 4)) for _ in range(3))
    size = draw(st.integers(1, 10))
    attrs = {"strides": [draw(st.integers(-1, 3))] * 2, "pads": [draw(st.integers(-1, 2))] * 4,
             "dilations": [draw(st.integers(0, 2))] * 2, "group": draw(st.sampled_from([1, 1, 2, 0]))}  # fmt: skip
    weight = numpy_helper.from_array(np.ones((cout, cin, k, k), dtype=np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], **attrs)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, size, size])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    graph = helper.make_graph([node], "g", inputs, outputs, [weight])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=16)) + data[cut + draw(st.integers(0, 8)):]
    return data


INPUT_FILES = {
    "toml": (toml_config().map(str.encode), ".toml"),
    "cfg": (scalesim_config().map(str.encode), ".cfg"),
    "topology": (topology_csv().map(str.encode), ".csv"),
    "onnx": (onnx_model(), ".onnx"),
    "bytes": (st.binary(max_size=64), ".csv"),
}


# ---------------------------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------------------------


@FUZZ
@given(
    net=st.sampled_from(["lenet5", "lenet5", "topology", "topology", "onnx", "bytes", "nonet"]),
    files=st.fixed_dictionaries({kind: strategy for kind, (strategy, _) in INPUT_FILES.items()}),
    config=st.sampled_from([None, None, None, "toml", "cfg", "bytes"]),
    flags=st.lists(
        st.one_of(option("--rows", INTS), option("--cols", INTS), option("--ifmap-kib", INTS),
                  option("--filter-kib", INTS), option("--ofmap-kib", INTS), option("--latency", INTS),
                  option("--batch", st.integers(-1, 2)),
                  option("--bandwidth", FLOATS), option("--clock-mhz", FLOATS), option("--dataflow", WORDS),
                  option("--input-bits", INTS), option("--weight-bits", INTS), option("--acc-bits", INTS),
                  option("--dram", st.sampled_from(["hbm2", "sram", ""])), st.just(["--energy"])),
        max_size=5,
    ),  # fmt: skip
    mode=st.sampled_from(["cycle", "analytic", "functional", "functional", "bogus"]),
    timing=st.sampled_from(["native", "native", "scalesim"]),
    json_kind=OUTPUT_KINDS,
    csv_kind=st.one_of(st.none(), OUTPUT_KINDS),
)
def test_sim_run(net, files, config, flags, mode, timing, json_kind, csv_kind):
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        paths = {}
        for kind, (_, suffix) in INPUT_FILES.items():
            paths[kind] = workdir / f"input_{kind}{suffix}"
            paths[kind].write_bytes(files[kind])
        json_out = output_path(workdir, json_kind, "report.json")
        argv = ["run", str(paths.get(net, net)), "-q", "--mode", mode, "--timing", timing, "--json", str(json_out)]
        argv += [arg for flag in flags for arg in flag] + (["--config", str(paths[config])] if config else [])
        outputs = [json_out]
        if csv_kind:
            outputs.append(output_path(workdir, csv_kind, "csv"))
            argv += ["--csv", str(outputs[-1])]
        check(argv, outputs, may_mismatch=mode == "functional")


@FUZZ
@given(
    net=st.sampled_from(["lenet5", "mobilenet_v1", "topology", "onnx", "bytes", ""]),
    files=st.fixed_dictionaries({kind: INPUT_FILES[kind][0] for kind in ("topology", "onnx", "bytes")}),
    batch=st.one_of(st.integers(-2, 3), st.just(2**31 - 1)),
    json_kind=OUTPUT_KINDS,
)
def test_sim_info(net, files, batch, json_kind):
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        paths = {}
        for kind, data in files.items():
            paths[kind] = workdir / f"input{INPUT_FILES[kind][1]}"
            paths[kind].write_bytes(data)
        json_out = output_path(workdir, json_kind, "info.json")
        check(["info", str(paths.get(net, net)), "--batch", str(batch), "--json", str(json_out)], [json_out])


@settings(FUZZ, max_examples=12)
@given(
    rows=st.sampled_from(["2", "2", "0", "1", "x"]),
    cols=st.sampled_from(["2", "2", "0"]),
    dataflow=st.sampled_from(["ws", "os", "is", "bogus"]),
    kib=st.sampled_from(["1", "1", "0", "-1"]),
    core_only=st.booleans(),
    net=st.sampled_from([[], [], ["lenet5"], ["nonet"]]),
    out_kind=OUTPUT_KINDS,
)
def test_sim_gen(rows, cols, dataflow, kib, core_only, net, out_kind):
    # Mostly invalid: a valid design takes seconds to convert, so only a few are generated.
    with tempfile.TemporaryDirectory() as tmp:
        out = output_path(Path(tmp), out_kind, "design")
        argv = ["gen", *net, "-o", str(out), "--rows", rows, "--cols", cols, "--dataflow", dataflow]
        argv += ["--ifmap-kib", kib, "--filter-kib", kib, "--ofmap-kib", kib] + (["--core-only"] if core_only else [])
        check(argv, [out])


@FUZZ
@given(
    axes=st.lists(
        st.tuples(st.sampled_from(["--rows", "--cols", "--dataflow", "--bandwidth", "--ifmap-kib", "--latency"]),
                  st.sampled_from(["4,8", "0", "-1", "", ",", "8,,16", "x", "ws,os", "inf", "nan", "1e-9", "4"])),
        max_size=3, unique_by=lambda axis: axis[0],
    ),  # fmt: skip
    chunk=st.sampled_from([[], ["--chunk", "0"], ["--chunk", "1"]]),
    config=st.sampled_from([None, "toml", "bytes"]),
    config_text=toml_config(),
    journal=st.one_of(st.none(), st.binary(max_size=200)),
    out_kind=OUTPUT_KINDS,
)
def test_sim_dse(axes, chunk, config, config_text, journal, out_kind):
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        out = output_path(workdir, out_kind, "sweep")
        argv = ["dse", "lenet5", "-o", str(out), "--workers", "1", "--no-plots", "-q", *chunk]
        argv += [arg for axis in axes for arg in axis]
        if config:
            path = workdir / "base.toml"
            path.write_bytes(config_text.encode() if config == "toml" else b"\x00\xff[")
            argv += ["--config", str(path)]
        if journal is not None and out_kind == "fresh" and run_sim(argv)[0] == 0:  # damage the journal it left
            with open(out / "journal.jsonl", "ab") as f:
                f.write(journal)
            (out / "results.csv").unlink(missing_ok=True)
            (out / "pareto.csv").unlink(missing_ok=True)
        outputs = [out / "results.csv", out / "pareto.csv"] if out_kind == "fresh" else [out]
        check(argv, outputs)
