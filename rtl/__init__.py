"""The hardware and its software, in three places.

- :mod:`rtl.hw`: the Amaranth components. The AXI peripheral (:mod:`rtl.hw.system_top`) joins
  the AXI4-Lite registers (:mod:`rtl.hw.axil_regs`, :mod:`rtl.hw.control_regs`), the command
  processor (:mod:`rtl.hw.command_processor`), the tile sequencer (:mod:`rtl.hw.sequencer`), the
  AXI4 DMA engines (:mod:`rtl.hw.dma`, :mod:`rtl.hw.axi_bursts`, :mod:`rtl.hw.axi`) and the layer
  core (:mod:`rtl.hw.layer_core`: memories, address generator, systolic array, output path). The
  bare systolic core (:mod:`rtl.hw.core`, from :mod:`rtl.hw.pe`, :mod:`rtl.hw.skew`,
  :mod:`rtl.hw.array`, :mod:`rtl.hw.control`) is what ``sim gen --core-only`` emits.
- :mod:`rtl.host`: the software. The compiler (:mod:`rtl.host.program`: network -> descriptors;
  :mod:`rtl.host.dram_image` and :mod:`rtl.host.program_image`: the DRAM image and the program
  format), the NumPy models (:mod:`rtl.host.emulator`: one descriptor; :mod:`rtl.host.system_model`:
  the whole system), the driver (:mod:`rtl.host.driver`, :mod:`rtl.host.c_header`) and the
  verification harness (:mod:`rtl.host.verify`, :mod:`rtl.host.system_run` with its cocotb module
  :mod:`rtl.host.system_bench` and the DRAM model ``rtl/host/dram_model.v``).
- ``rtl`` itself: :mod:`rtl.spec`, the one source of the software interface (registers, descriptor
  fields, program format) that both sides read; the sizes of the designs (:mod:`rtl.geometry`,
  :mod:`rtl.accelerator_geometry`); and the tools that build the hardware from both sides:
  :mod:`rtl.generate_system` (``sim gen``: the AXI peripheral) and :mod:`rtl.generate`
  (``sim gen --core-only``: the bare core; the output directory both share), :mod:`rtl.synth`
  (Yosys / nextpnr) and :mod:`rtl.fpga_fit` (will the design fit the FPGA).
"""
