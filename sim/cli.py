"""The ``sim`` command line: a thin layer over workloads/, accel/, sim/ and (lazily) rtl/.

Every error a user can cause is a :class:`~workloads.errors.UserError`; :func:`main` prints it on
one line and exits with status 2, without a traceback.
"""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from accel.files import check_output_dir, check_output_file
from sim.options import check_dram, with_default
from workloads.errors import UserError
from workloads.sources import load_network
from workloads.zoo import ZOO

if TYPE_CHECKING:
    from accel.config import AccelConfig

app = typer.Typer(
    help="Systolic-array CNN accelerator toolkit: simulate, generate RTL, explore designs.",
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# Tables keep their full width when piped (no terminal to wrap to).
stdout = Console(width=None if sys.stdout is not None and sys.stdout.isatty() else 250)

NetArg = Annotated[str, typer.Argument(help="Zoo network name (see `sim list`) or a model file.", metavar="NET_OR_FILE")]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"sim (systolic-toolkit) {version('systolic-toolkit')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_version)] = False,
) -> None:
    """Systolic-array CNN accelerator toolkit: simulate, generate RTL, explore designs."""


@app.command("list")
def list_networks() -> None:
    """List the networks in the zoo: input shape, layers, parameters, MACs and a one-line description."""
    from sim.tables import zoo_table

    stdout.print(zoo_table({name: build() for name, build in ZOO.items()}))


SkipOpt = Annotated[
    bool,
    typer.Option("--skip-unsupported", help="ONNX: treat unsupported operators as zero-cost identity layers (warns)."),
]


def load_net(net: str, skip_unsupported: bool = False):
    """``load_network`` with its warnings (skipped ONNX operators) printed as one ``warning:`` line each."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        network = load_network(net, skip_unsupported=skip_unsupported)
    err = Console(stderr=True, soft_wrap=True)
    for w in caught:
        err.print(f"warning: {w.message}", markup=False, highlight=False)
    return network


@app.command()
def info(
    net: NetArg,
    json_out: Annotated[Optional[str], typer.Option("--json", help="Write JSON to PATH ('-' for stdout).", metavar="PATH")] = None,
    batch: Annotated[int, typer.Option(help="Batch size N.")] = 1,
    skip_unsupported: SkipOpt = False,
) -> None:
    """Per-layer shapes, parameters, MACs and receptive fields of a network."""
    from sim.tables import info_table

    if json_out and json_out != "-":
        check_output_file(json_out, "--json")
    network = load_net(net, skip_unsupported).with_batch(batch)
    summary = network.summary()
    if json_out:
        emit_json(summary, json_out)
        if json_out == "-":
            return
    stdout.print(info_table(summary))


def load_config(config_file: str | None, overrides: dict) -> AccelConfig:
    """The configuration from ``--config`` (or the defaults) with command-line overrides applied.

    A ``.cfg`` file is read as a SCALE-Sim config (its notes on ignored settings go to stderr).
    """
    import warnings

    from sim.api import configure

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        config = configure(config_file, **{k: v for k, v in overrides.items() if v is not None})
    for note in caught:
        Console(stderr=True, soft_wrap=True).print(f"note: {note.message}", markup=False, highlight=False)
    return config


Opt = typer.Option
ConfigOpt = Annotated[Optional[str], Opt("--config", help="Accelerator config (TOML, or a SCALE-Sim .cfg): replaces the defaults shown below; the options override it.", metavar="FILE")]
RowsOpt = Annotated[Optional[int], Opt(help=with_default("PE array rows.", "rows"))]
ColsOpt = Annotated[Optional[int], Opt(help=with_default("PE array columns.", "cols"))]
IfmapOpt = Annotated[Optional[int], Opt(help=with_default("Ifmap SRAM in KiB (two banks).", "ifmap_kib"))]
FilterOpt = Annotated[Optional[int], Opt(help=with_default("Filter SRAM in KiB (two banks).", "filter_kib"))]
OfmapOpt = Annotated[Optional[int], Opt(help=with_default("Accumulator SRAM in KiB (two banks).", "ofmap_kib"))]
BufferingOpt = Annotated[Optional[str], Opt(help=with_default("double (tiles take one bank) or whole (a layer's ifmap or filter tiles may take both banks, single-buffered, when that moves fewer DRAM bytes).", "buffering"))]
QuietOpt = Annotated[bool, Opt("--quiet", "-q", help="No progress bar.")]
BandwidthOpt = Annotated[Optional[float], Opt("--bandwidth", help=with_default("DRAM bytes/cycle ('inf': ideal).", "dram_bandwidth"))]
LatencyOpt = Annotated[Optional[int], Opt("--latency", help=with_default("DRAM latency in cycles.", "dram_latency"))]


@app.command()
def run(
    net: NetArg,
    config_file: ConfigOpt = None,
    rows: RowsOpt = None,
    cols: ColsOpt = None,
    dataflow: Annotated[Optional[str], Opt(help=with_default("ws, os or is.", "dataflow"))] = None,
    input_bits: Annotated[Optional[int], Opt(help=with_default("Activation width in bits.", "input_bits"))] = None,
    weight_bits: Annotated[Optional[int], Opt(help=with_default("Weight width in bits.", "weight_bits"))] = None,
    acc_bits: Annotated[Optional[int], Opt(help=with_default("Accumulator width in bits.", "acc_bits"))] = None,
    ifmap_kib: IfmapOpt = None,
    filter_kib: FilterOpt = None,
    ofmap_kib: OfmapOpt = None,
    buffering: BufferingOpt = None,
    bandwidth: BandwidthOpt = None,
    latency: LatencyOpt = None,
    clock_mhz: Annotated[Optional[float], Opt(help=with_default("Clock in MHz.", "clock_mhz"))] = None,
    batch: Annotated[int, Opt(help="Batch size N.")] = 1,
    mode: Annotated[str, Opt(help="cycle, analytic or functional.")] = "cycle",
    timing: Annotated[str, Opt(help="native (this microarchitecture) or scalesim (SCALE-Sim 3.0.0).")] = "native",
    scalesim_dir: Annotated[Optional[str], Opt("--scalesim-reports", help="With --timing scalesim: write SCALE-Sim's report CSVs to DIR.", metavar="DIR")] = None,
    json_out: Annotated[Optional[str], Opt("--json", help="Write the report as JSON to PATH ('-': stdout).", metavar="PATH")] = None,
    csv_dir: Annotated[Optional[str], Opt("--csv", help="Write layers.csv and total.csv to DIR (with --energy: energy columns in pJ).", metavar="DIR")] = None,
    save_outputs: Annotated[Optional[str], Opt("--save-outputs", help="With --mode functional: save every layer's outputs to FILE.npz, one array per layer name.", metavar="FILE.npz")] = None,
    plot: Annotated[Optional[str], Opt(help="Plot per-layer cycles and utilization to PNG.", metavar="PNG")] = None,
    roofline: Annotated[Optional[str], Opt(help="Plot each layer on the roofline (PE ops per DRAM byte vs per cycle) to PNG.", metavar="PNG")] = None,
    energy: Annotated[bool, Opt("--energy", help="Also report energy per layer: MAC, registers, each SRAM, DRAM.")] = False,
    energy_table: Annotated[Optional[str], Opt(help="With --energy: energy table (TOML), see docs/dse.md.", metavar="FILE")] = None,
    dram: Annotated[Optional[str], Opt(help="With --energy: DRAM energy preset lpddr4, hbm2 or ddr3.")] = None,
    skip_unsupported: SkipOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Simulate a network: cycles, stalls, utilization, SRAM and DRAM traffic (and energy) per layer."""
    from sim.progress import layer_progress
    from sim.runner import simulate
    from sim.tables import run_table

    check_dram(bandwidth, latency)
    if scalesim_dir and timing != "scalesim":
        raise UserError("--scalesim-reports needs --timing scalesim")
    if save_outputs and mode != "functional":
        raise UserError("--save-outputs needs --mode functional (the other modes compute no values)")
    from sim.scalesim_reports import REPORT_FILES

    check_outputs(files={"--json": json_out, "--plot": plot, "--roofline": roofline, "--save-outputs": save_outputs},
                  dirs={"--csv": (csv_dir, CSV_FILES), "--scalesim-reports": (scalesim_dir, REPORT_FILES)})  # fmt: skip
    config = load_config(
        config_file,
        dict(rows=rows, cols=cols, dataflow=dataflow, input_bits=input_bits, weight_bits=weight_bits,
             acc_bits=acc_bits, ifmap_kib=ifmap_kib, filter_kib=filter_kib, ofmap_kib=ofmap_kib, buffering=buffering,
             dram_bandwidth=bandwidth, dram_latency=latency, clock_mhz=clock_mhz),
    )  # fmt: skip
    network = load_net(net, skip_unsupported).with_batch(batch)
    with layer_progress(len(network), quiet) as advance:
        report = simulate(network, config, mode=mode, progress=advance, timing=timing)
    data = report.to_dict()
    matches = None
    if mode == "functional":
        from sim.functional_check import golden_check

        matches = golden_check(network, config, report)
    if energy or energy_table or dram:
        from sim.energy_view import attach_energy

        attach_energy(data, energy_table, dram)
    if plot:
        from sim.plot import plot_layers

        plot_layers(report, plot)
    if roofline:
        from sim.roofline import plot_roofline

        plot_roofline(data, roofline)
    if csv_dir:
        from accel.files import write_atomic

        from sim.energy_view import energy_columns

        layer_energy, total_energy = energy_columns(data["energy"]) if "energy" in data else (None, None)
        layers_file, total_file = CSV_FILES
        write_atomic(f"{csv_dir}/{layers_file}", report.layers_csv(layer_energy))
        write_atomic(f"{csv_dir}/{total_file}", report.total_csv(total_energy))
    if save_outputs:
        from accel.files import write_atomic
        from sim.functional_check import outputs_npz

        write_atomic(save_outputs, outputs_npz(report))
    if scalesim_dir:
        from sim.scalesim_reports import write_reports

        write_reports(scalesim_dir, network, config)
    if json_out:
        emit_json(data, json_out)
    if json_out != "-":
        stdout.print(run_table(data))
        if "energy" in data:
            from sim.energy_view import energy_table as energy_view

            stdout.print(energy_view(data))
    if matches is not None:
        from sim.functional_check import check_lines

        # With the JSON report on stdout, the verdict goes to stderr.
        out = Console(stderr=True, soft_wrap=True) if json_out == "-" else stdout
        for line in check_lines(matches):
            out.print(line, markup=False, highlight=False)
        if any(m.mismatches for m in matches):
            sys.exit(1)


@app.command()
def gen(
    net: Annotated[Optional[str], typer.Argument(help="Network (zoo name or model file) whose DRAM image to build.", metavar="[NET_OR_FILE]")] = None,
    out_dir: Annotated[str, Opt("-o", "--out", help="Output directory: new, empty, or an earlier `sim gen` output, not the current directory. The generated files replace it as a whole, so a directory holding other files is refused.", metavar="DIR")] = "",
    config_file: ConfigOpt = None,
    rows: RowsOpt = None,
    cols: ColsOpt = None,
    dataflow: Annotated[Optional[str], Opt(help=with_default("ws (the AXI accelerator), or os / is with --core-only.", "dataflow"))] = None,
    ifmap_kib: IfmapOpt = None,
    filter_kib: FilterOpt = None,
    ofmap_kib: OfmapOpt = None,
    buffering: BufferingOpt = None,
    core_only: Annotated[bool, Opt("--core-only", help="Emit the bare systolic array (any dataflow) instead of the AXI accelerator.")] = False,
    fit: Annotated[bool, Opt("--fit", help="Size the buffers so no layer of NET is split into tiles; report the cost.")] = False,
    batch: Annotated[int, Opt(help="Batch size N of NET's DRAM image.")] = 1,
    synth: Annotated[Optional[str], Opt(help="Also synthesize and place-and-route: ecp5 or ice40.")] = None,
    device_check: Annotated[bool, Opt("--device-check/--no-device-check", help="Keep the design within the FPGA (the --synth device, else the ECP5 LFE5U-85F): without array or buffer sizes pick ones that fit, refuse sizes that do not. --no-device-check keeps the simulator's defaults and any size.")] = True,
    skip_unsupported: SkipOpt = False,
) -> None:
    """Generate the AXI accelerator's Verilog and C header (or the bare array), and NET's DRAM image.

    With NET: dram.bin / dram.hex (the image to load at its base address), weights.npz, and a
    manifest and README naming the tensors' addresses; `sim verify DIR` runs them.
    """
    from rtl.generate import check_out_dir, generate_core  # Amaranth loads here
    from rtl.generate_system import generate_system, network_source
    from rtl.synth import FAMILIES

    if not out_dir:
        raise UserError("missing option -o/--out DIR: where to write the Verilog")
    check_out_dir(out_dir)
    sizes = dict(rows=rows, cols=cols, ifmap_kib=ifmap_kib, filter_kib=filter_kib, ofmap_kib=ofmap_kib)
    config = load_config(config_file, dict(sizes, dataflow=dataflow, buffering=buffering))
    if synth is not None and synth not in FAMILIES:
        raise UserError(f"--synth must be one of {', '.join(FAMILIES)}, not {synth!r}")
    given = {name for name, value in sizes.items() if value is not None} | config_file_fields(config_file)
    family = synth or "ecp5"
    if core_only:
        if net or fit:
            raise UserError("--core-only emits the bare array, which runs no layer program; drop NET and --fit")
        if device_check:
            config = fit_device(config, family, given, core_only=True)
        info = generate_core(config, out_dir, synth=synth)
    else:
        if (fit or batch != 1) and not net:
            raise UserError("--fit and --batch apply to a network's DRAM image: give NET_OR_FILE")
        network = load_net(net, skip_unsupported).with_batch(batch) if net else None
        if device_check:
            config = fit_device(config, family, given, choose_buffers=not fit)
        if fit:
            from rtl.fpga_fit import check
            from rtl.host.buffer_fit import fit_buffers

            config, cost = fit_buffers(network, config)
            if device_check:
                check(config, family, fitted_for=network.name)
            stdout.print(fit_summary(network.name, cost))
        source = {"source": network_source(net), "batch": batch, "skip_unsupported": skip_unsupported} if net else None
        info = generate_system(config, out_dir, synth=synth, network=network, source=source)
    written = [f"{info['top']}.v", *generated_files(info)]
    stdout.print(f"wrote {out_dir}/" + ", ".join(written))
    if synth:
        report = info["synth_report"]
        stdout.print(", ".join(f"{key} {value}" for key, value in report.items() if not isinstance(value, (dict, list))))


def generated_files(info: dict) -> list[str]:
    """The files besides the Verilog that ``sim gen`` wrote, from the manifest ``info``."""
    image = info.get("image", {})
    extra = [info["header"]] if "header" in info else []
    extra += [image["bin"], image["hex"], "weights.npz"] if image else []
    return [*extra, "manifest.json", "README.md", *(["synth_report.json"] if "synth_report" in info else [])]


#: Side of the square array ``sim gen`` builds when neither flags nor a config file give one
#: and the simulator's 32x32 does not fit: the medium FPGA configuration of docs/benchmarks.md
#: (a smaller one where 8x8 does not fit).
FPGA_SIDE = 8
BUFFER_FIELDS = {"ifmap_kib", "filter_kib", "ofmap_kib"}


def config_file_fields(config_file: str | None) -> set[str]:
    """The config fields ``--config`` sets (a SCALE-Sim .cfg always sets the array and buffers)."""
    if config_file is None:
        return set()
    if config_file.lower().endswith(".cfg"):
        return {"rows", "cols"} | BUFFER_FIELDS
    import tomllib

    from accel.config import FIELD_NAMES

    data = tomllib.loads(open(config_file, encoding="utf-8").read())  # load_config has read it already
    return set(data.get("accelerator", data)) & set(FIELD_NAMES)


def fit_device(config: AccelConfig, family: str, given: set[str], core_only: bool = False,
               choose_buffers: bool = True) -> AccelConfig:  # fmt: skip
    """``config`` within ``family``'s FPGA, each choice printed on one line: unless the array is
    ``given``, the largest square one up to :data:`FPGA_SIDE` if the configured one does not fit;
    unless a buffer size is ``given`` (or ``--fit`` sizes them: not ``choose_buffers``), the
    largest buffers that fit.

    FitError (exit 2) when the array or the given buffers do not fit.
    """
    from rtl.fpga_fit import array_shortfall, check, check_array, check_buildable, largest_buffers, largest_square

    check_buildable(config, core_only)
    shortfall = array_shortfall(config, family, core_only)
    if shortfall and not {"rows", "cols"} & given:
        side = largest_square(config, family, core_only, limit=FPGA_SIDE)
        if side:  # else no array fits: check_array says so below
            config = config.replace(rows=side, cols=side)
            stdout.print(f"array {side}x{side}: {shortfall}; --rows/--cols choose another")
    if not choose_buffers:
        check_array(config, family, core_only)
    elif BUFFER_FIELDS & given:
        check(config, family, core_only)
    else:
        config, est = largest_buffers(config, family, core_only)
        stdout.print(f"buffers {config.ifmap_kib}/{config.filter_kib}/{config.ofmap_kib} KiB: the largest "
                     f"(ifmap:filter:ofmap = 2:2:1) that fit the {est.device} (estimate: {est.line(family)})")  # fmt: skip
    return config


def fit_summary(name: str, cost: dict) -> str:
    """One line per buffer of ``--fit``: KiB before and after, total SRAM and ASIC area."""
    lines = [f"--fit: buffers sized so no layer of {name} is split into tiles"]
    lines += [f"  {b}_kib {v['before']} -> {v['fit']}" for b, v in cost["buffers_kib"].items()]
    lines.append(f"  SRAM {cost['sram_kib']['before']} -> {cost['sram_kib']['fit']} KiB, "
                 f"area {cost['area_mm2']['before']} -> {cost['area_mm2']['fit']} mm^2 (ASIC estimate)")  # fmt: skip
    return "\n".join(lines)


@app.command()
def verify(
    net: Annotated[str, typer.Argument(help="Network (zoo name or model file), NET:LAYER for one layer on its golden input, or a `sim gen NET` directory.", metavar="NET_OR_LAYER_OR_DIR")],
    config_file: ConfigOpt = None,
    rows: RowsOpt = None,
    cols: ColsOpt = None,
    ifmap_kib: IfmapOpt = None,
    filter_kib: FilterOpt = None,
    ofmap_kib: OfmapOpt = None,
    buffering: BufferingOpt = None,
    bandwidth: BandwidthOpt = None,
    latency: LatencyOpt = None,
    backpressure: Annotated[float, Opt(help="Chance (0 <= P < 1) that the DRAM model withholds ready/valid, per cycle and channel; cycles are then not compared.")] = 0.0,
    simulator: Annotated[str, Opt(help="icarus or verilator.")] = "icarus",
    seed: Annotated[int, Opt(help="Seed of the random int8 weights and input.")] = 0,
    batch: Annotated[int, Opt(help="Batch size N.")] = 1,
    json_out: Annotated[Optional[str], Opt("--json", help="Write the checks as JSON to PATH ('-': stdout).", metavar="PATH")] = None,
    skip_unsupported: SkipOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a network, one layer, or a `sim gen NET` directory on the AXI accelerator's RTL with a DRAM model.

    Every layer's output in DRAM is checked bit-exactly against the golden int8 model, and the
    cycles (the CYCLES register) against `sim run`'s for the same config. A directory runs its
    dram.bin, checked against the golden model recomputed from its weights.npz and input.
    """
    from rtl.host.system_run import SystemRunError
    from rtl.host.generated_dir import load_generated
    from rtl.host.verify import verify_generated, verify_network
    from sim.progress import layer_progress
    from sim.tables import verify_table

    check_dram(bandwidth, latency, backpressure)
    if simulator not in ("icarus", "verilator"):
        raise UserError(f"--simulator must be icarus or verilator, not {simulator!r}")
    check_outputs(files={"--json": json_out})
    sizes = dict(rows=rows, cols=cols, ifmap_kib=ifmap_kib, filter_kib=filter_kib, ofmap_kib=ofmap_kib,
                 buffering=buffering)
    dram = {k: v for k, v in dict(dram_bandwidth=bandwidth, dram_latency=latency).items() if v is not None}
    if is_generated_dir(net):
        if config_file or batch != 1 or seed != 0 or any(v is not None for v in sizes.values()):
            raise UserError(f"{net} holds its own design, weights, input and batch; drop --config, --batch, --seed "
                            "and the size options")  # fmt: skip
        generated = load_generated(net)  # every file of the directory, before the slow build
        check_bus(net, generated.config, dram)

        def run():
            return verify_generated(generated, simulator, backpressure, dram)
    else:
        source, _, layer = net.partition(":") if ":" in net and not net.lower().endswith(".onnx") else (net, "", "")
        network = load_net(source, skip_unsupported).with_batch(batch)
        config = load_config(config_file, {**sizes, **dram})

        def run():
            return verify_network(network, config, layer or None, seed=seed, simulator=simulator, backpressure=backpressure)
    try:
        with layer_progress(1, quiet, label=f"on {simulator}") as advance:
            result = run()
            advance("done")
    except SystemRunError as err:
        _fail(str(err), 1)
    if json_out:
        emit_json(result.to_dict(), json_out)
    if json_out != "-":
        stdout.print(verify_table(result))
    if not result.passed:
        sys.exit(1)


def is_generated_dir(net: str) -> bool:
    """Whether ``sim verify``'s argument is a directory (``./lenet5`` reaches one named like a zoo network)."""
    from pathlib import Path

    return Path(net).is_dir() and net not in ZOO


def check_bus(directory: str, config: AccelConfig, dram: dict) -> None:
    """UserError if ``--bandwidth`` needs a wider AXI bus than the directory's design has."""
    from rtl.generate_system import system_bus_bytes

    wanted, built = system_bus_bytes(config.replace(**dram)), system_bus_bytes(config)
    if wanted != built:
        raise UserError(f"--bandwidth {dram['dram_bandwidth']} needs a {wanted}-byte AXI bus; {directory} was built "
                        f"with {built} bytes per beat: give --bandwidth <= {built}, or run `sim gen` again with it")  # fmt: skip


#: The files ``sim run --csv DIR`` writes.
CSV_FILES = ("layers.csv", "total.csv")


def check_outputs(files: dict[str, str | None] | None = None,
                  dirs: dict[str, tuple[str | None, tuple[str, ...]]] | None = None) -> None:  # fmt: skip
    """Check every output path a command was given before it starts its work.

    ``files``: option -> path; ``dirs``: option -> (directory, the files written into it).
    """
    for option, path in (files or {}).items():
        if path and path != "-":
            check_output_file(path, option)
    for option, (path, names) in (dirs or {}).items():
        if path:
            check_output_dir(path, option, names)


def emit_json(data: dict, path: str) -> None:
    """Print ``data`` as JSON to stdout (``path == '-'``) or write it atomically to ``path``.

    Strict JSON has no infinity: an ideal DRAM channel's bandwidth is written as the string "inf".
    """
    from accel.files import strict_json, write_atomic

    text = strict_json(data, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        write_atomic(path, text)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``sim`` console script.

    Exit status: 0 on success, 1 when a check finds a mismatch (``sim verify``, ``sim run --mode
    functional``), 2 on a user error (one ``error:`` line, no traceback), 130 when interrupted
    (Ctrl-C: one line), 141 when the reader of stdout went away (quietly, as SIGPIPE would).
    """
    from accel.files import StdoutClosed, guarded_stdout
    from sim.progress import Interrupted

    args = sys.argv[1:] if argv is None else argv
    if sys.stdout is None:  # started with stdout closed (`sim list >&-`)
        _fail("cannot write standard output: it is closed", 2)
    try:
        with guarded_stdout():
            code = app(args=args or ["--help"], prog_name="sim", standalone_mode=False)
    except UserError as err:
        _fail(str(err), 2)
    except (KeyboardInterrupt, Interrupted) as err:
        _fail(str(err) or "interrupted", 130)
    except typer.Abort:  # Click's answer to an end of input
        _fail("aborted: unexpected end of input", 2)
    except StdoutClosed:  # the reader went away (`sim run vgg16 | head`): stop quietly
        sys.exit(128 + signal.SIGPIPE)
    except OSError as err:  # a file the command did not turn into a UserError
        _fail(f"{err.filename}: {err.strerror or err}" if err.filename else str(err), 2)
    except Exception as err:
        # Click's usage errors (bad option, missing argument) carry their own exit status (2).
        if not (hasattr(err, "format_message") and hasattr(err, "exit_code")):
            raise
        where = getattr(getattr(err, "ctx", None), "command_path", "sim")
        _fail(f"{err.format_message()} (see `{where} --help`)", err.exit_code)
    if code == 130:  # typer turns Ctrl-C (KeyboardInterrupt) into a silent exit status 130
        _fail("interrupted", 130)
    if argv is None:  # the work is done: a Ctrl-C while the interpreter shuts down changes nothing
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, status: int) -> None:
    Console(stderr=True, soft_wrap=True).print(f"error: {message}", markup=False, highlight=False)
    sys.exit(status)


from sim.dse_cli import dse_command  # noqa: E402  (its heavy imports happen inside the command)

app.command("dse")(dse_command)
