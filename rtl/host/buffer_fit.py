"""``sim gen NET --fit``: the smallest buffers with which no layer of a network needs tiling."""

from __future__ import annotations

from accel.area import asic_area
from accel.config import AccelConfig
from accel.lowering import ArrayOp, lower_network
from accel.tiling import MappingError, tile_grid
from workloads.network import Network

from .program import ProgramError, compile_network

BUFFERS = ("ifmap", "filter", "ofmap")
KIB_LIMIT = 1 << 20  # 1 GiB per buffer: beyond any on-chip memory


def single_tile(network: Network, config: AccelConfig) -> bool:
    """True if every array layer runs as one descriptor per pack of groups (no tiling).

    Buffer-size errors count as False; call it on a network that compiles with large buffers.
    """
    try:
        for _, op in lower_network(network):
            if isinstance(op, ArrayOp):
                grid = tile_grid(op, config)
                if len(grid.mi) != -(-op.groups // grid.pack):
                    return False
        compile_network(network, config)
    except (MappingError, ProgramError):
        return False
    return True


def fit_buffers(network: Network, config: AccelConfig) -> tuple[AccelConfig, dict]:
    """The smallest buffers (whole KiB) with which no layer of ``network`` is split into tiles.

    Each buffer is sized by bisection with the other two unlimited, then the three are checked
    together. Returns the config and a cost report (KiB and ASIC area before and after).
    """
    huge = {f"{b}_kib": KIB_LIMIT for b in BUFFERS}
    compile_network(network, config.replace(**huge))  # a layer the RTL cannot run says so here
    if not single_tile(network, config.replace(**huge)):
        raise ProgramError(f"{network.name} cannot run without tiling even with {KIB_LIMIT} KiB buffers")
    sizes = {}
    for buffer in BUFFERS:
        lo, hi = 1, KIB_LIMIT  # single_tile(hi) holds
        while lo < hi:
            mid = (lo + hi) // 2
            if single_tile(network, config.replace(**{**huge, f"{buffer}_kib": mid})):
                hi = mid
            else:
                lo = mid + 1
        sizes[f"{buffer}_kib"] = lo
    fitted = config.replace(**sizes)
    if not single_tile(network, fitted):  # pragma: no cover - the three needs are independent
        raise ProgramError(f"{network.name}: the per-buffer sizes {sizes} do not fit together")
    before, after = asic_area(config), asic_area(fitted)
    report = {
        "buffers_kib": {b: {"before": getattr(config, f"{b}_kib"), "fit": sizes[f"{b}_kib"]} for b in BUFFERS},
        "sram_kib": {"before": sum(getattr(config, f"{b}_kib") for b in BUFFERS), "fit": sum(sizes.values())},
        "area_mm2": {"before": round(before["total"], 4), "fit": round(after["total"], 4)},
    }
    return fitted, report
