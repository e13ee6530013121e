"""The hardware: Amaranth components of the systolic-array core and their Verilog emission.

Modules (leaf first): :mod:`rtl.pe` (processing elements), :mod:`rtl.skew` (wavefront delay
lines), :mod:`rtl.array` (the PE grid), :mod:`rtl.control` (tile controllers),
:mod:`rtl.core` (memories + array + controller), :mod:`rtl.generate` (Verilog, manifest,
README), :mod:`rtl.synth` (Yosys / nextpnr reports). :mod:`rtl.geometry` and :mod:`rtl.host`
(host-side tiling of a GEMM) are pure Python and do not import Amaranth.
"""
