"""The hardware: Amaranth components of the systolic array and the layer accelerator, and the host side.

Modules (leaf first): :mod:`rtl.pe` (processing elements), :mod:`rtl.skew` (wavefront delay
lines), :mod:`rtl.array` (the PE grid), :mod:`rtl.control` (tile controllers),
:mod:`rtl.core` (memories + array + controller), :mod:`rtl.accelerator` (the layer accelerator:
host bus, buffers, address generator, output path), :mod:`rtl.generate` (Verilog, manifest,
README), :mod:`rtl.synth` (Yosys / nextpnr reports). Pure Python, no Amaranth:
:mod:`rtl.geometry` / :mod:`rtl.accelerator_geometry` (sizes), :mod:`rtl.host` (host-side tiling
of a GEMM for the bare core), :mod:`rtl.emulator` (NumPy model of a descriptor),
:mod:`rtl.program` (host driver: network -> descriptors -> run), :mod:`rtl.layer_program`
(``sim gen NET`` files, ``--fit``), :mod:`rtl.verify` (golden-model checks, ``sim verify``).
Inside the cocotb simulator: :mod:`rtl.bus_driver`, :mod:`rtl.verify_bench`.
"""
