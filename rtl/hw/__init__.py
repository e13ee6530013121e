"""The hardware: Amaranth components of the accelerator (the AXI top and everything in it)."""
