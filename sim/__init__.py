"""Systolic-array CNN accelerator toolkit: the simulator, its reports and CLI, and the Python API.

    import sim
    report = sim.simulate("vgg16", sim.configure(rows=16, cols=16))
    print(report.total["latency_ms"])

The API (``docs/api.md``; defined in :mod:`sim.api`):

- :func:`load_network` / :func:`networks`: a zoo network, an ONNX model or a SCALE-Sim topology;
- :class:`AccelConfig` / :func:`configure`: the accelerator, from defaults, TOML or SCALE-Sim .cfg;
- :func:`simulate`: cycles, stalls, utilization, SRAM and DRAM traffic per layer
  (a :class:`SimulationReport` with ``records()``, ``to_dict()``, ``to_dataframe()``);
- :func:`sweep` / :func:`evaluate`: design-space exploration, latency / energy / area, Pareto fronts;
- :func:`generate`: Verilog of the accelerator and a network's layer program;
- :func:`verify`: a network on the generated hardware, against the golden model;
- :func:`to_dataframe`: any list of records as a pandas DataFrame (pandas is optional).

The names load on first use (PEP 562), so ``import sim`` (and with it every ``sim`` command's
start-up) costs nothing until a name is touched; Numba and Amaranth load only in the functions
that need them.
"""

from __future__ import annotations

import importlib

#: Public name -> the module that defines it.
_EXPORTS = {
    "AccelConfig": "accel.config",
    "Network": "workloads.network",
    "UserError": "workloads.errors",
    **dict.fromkeys(
        ("SimulationReport", "configure", "evaluate", "generate", "load_network", "networks", "simulate", "sweep",
         "to_dataframe", "verify"),
        "sim.api",
    ),
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
