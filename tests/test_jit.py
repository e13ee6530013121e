"""Kernels run interpreted (small work, early in a process) give the numbers the compiled ones give."""

import pytest
from numba import config as numba_config

import accel.jit
from accel.analytic import _recurrence, kernel_bandwidth, layer_timing, schedule_arrays
from accel.config import AccelConfig
from accel.lowering import lower_network
from accel.tiling import schedule
from workloads.zoo import ZOO


@pytest.fixture
def budget(monkeypatch):
    """Set the process's interpreting budget (tiles) for one test."""

    def set_budget(tiles: int) -> None:
        monkeypatch.setattr(accel.jit, "_interpreted", 0)
        monkeypatch.setattr(accel.jit, "INTERPRET_BUDGET", tiles)

    return set_budget


def test_choose_interprets_small_work_until_the_budget_is_spent(budget):
    budget(100)
    kernel = _recurrence
    if kernel.signatures:  # compiled by an earlier test in this process: always the compiled one
        assert accel.jit.choose(kernel, 1) is kernel
        return
    assert accel.jit.choose(kernel, 60) is kernel.py_func
    assert accel.jit.choose(kernel, 60) is kernel  # 120 > 100 tiles: compiled from here on


def test_choose_returns_plain_functions_unchanged(budget):
    budget(100)

    def plain():
        return 0

    assert accel.jit.choose(plain, 1) is plain


@pytest.mark.parametrize("config", [AccelConfig(), AccelConfig(rows=8, cols=16, dataflow="os", dram_bandwidth=0.75,
                                                               dram_latency=7, ifmap_kib=16, filter_kib=16, ofmap_kib=8)])
@pytest.mark.parametrize("net", ["lenet5", "alexnet"])
def test_interpreted_and_compiled_timing_agree(net, config, budget):
    for node, op in lower_network(ZOO[net]()):
        if op is None:
            continue
        sched = schedule(op, config)
        budget(0)
        compiled = layer_timing(sched, config.dram_bandwidth, config.dram_latency)
        budget(10**9)
        # Force the Python function even if the kernel is loaded: the same source, interpreted.
        total, busy = _recurrence.py_func(*schedule_arrays(sched), config.dram_bandwidth, config.dram_latency, sched.rows)
        assert (int(total), int(busy)) == (compiled.cycles, compiled.dram_busy_cycles), node.name


@pytest.mark.skipif(numba_config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: there is no compiled engine")
@pytest.mark.parametrize("bandwidth", [0.75, 16.0, float("inf")])
def test_interpreted_and_compiled_engine_agree(bandwidth):
    from sim.engine import _run_events

    config = AccelConfig(rows=8, cols=8, ifmap_kib=16, filter_kib=16, ofmap_kib=8)
    for node, op in lower_network(ZOO["alexnet"]()):
        if op is None:
            continue
        sched = schedule(op, config)
        args = (*schedule_arrays(sched), kernel_bandwidth(bandwidth), 100, sched.rows)
        compiled = tuple(int(v) for v in _run_events(*args))
        assert tuple(int(v) for v in _run_events.py_func(*args)) == compiled, node.name


def test_compiled_kernels_are_cached_under_a_hash_of_their_sources(tmp_path):
    """A kernel whose helper in another file changed must not load stale machine code: the cache
    directory is named by a hash of every source file of the kernel packages."""
    from pathlib import Path

    import numba

    import accel

    root = Path(accel.__file__).resolve().parent.parent
    files = [path for package in accel.jit.KERNEL_PACKAGES for path in (root / package).glob("*.py")]
    assert Path(numba.config.CACHE_DIR).name == accel.jit.source_hash(files)
    assert Path(numba.config.CACHE_DIR).is_dir()
    first, second = tmp_path / "helper.py", tmp_path / "kernel.py"
    first.write_text("x = 1\n")
    second.write_text("y = 2\n")
    before = accel.jit.source_hash([first, second])
    first.write_text("x = 3\n")
    assert accel.jit.source_hash([first, second]) != before
