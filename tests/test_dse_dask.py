"""Sweeps on a Dask cluster (a LocalCluster on loopback) give the same results as local runs."""

from __future__ import annotations

import pytest

distributed = pytest.importorskip(
    "distributed",
    reason="dask.distributed is not installed (pip install 'systolic-toolkit[dask]')",
)

from accel.dse import Sweep, Workload, run_sweep
from sim.cli import main
from workloads.zoo import get_network

SWEEP = Sweep({"rows": [8, 16, 32], "cols": [8, 32], "dataflow": ["ws", "os", "is"], "ofmap_kib": [64, 128],
               "bandwidth": [8, 16]})  # fmt: skip


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded workers in this process, reached over TCP on 127.0.0.1."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,
    ) as cluster:
        yield cluster


def test_dask_sweep_equals_local_sweep(cluster, tmp_path):
    vgg16 = Workload.from_network(get_network("vgg16"))
    local = run_sweep(vgg16, SWEEP)
    remote = run_sweep(vgg16, SWEEP, scheduler=cluster.scheduler_address, store=tmp_path, batch_size=7)
    assert remote.rows == local.rows
    assert remote.evaluated == len(SWEEP)
    assert len((tmp_path / "journal.jsonl").read_text().splitlines()) == len(SWEEP)
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        again = run_sweep(vgg16, SWEEP, client=client)
    assert again.rows == local.rows


def test_cli_scheduler_writes_the_same_files_as_a_local_run(cluster, tmp_path, capsys):
    args = ["dse", "lenet5", "--rows", "4,8,16", "--cols", "8,16", "--dataflow", "ws,os,is", "--ofmap-kib", "1,64",
            "--no-plots", "-q"]  # fmt: skip
    for out, extra in (
        (tmp_path / "local", ["--workers", "1"]),
        (tmp_path / "dask", ["--scheduler", cluster.scheduler_address]),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main([*args, *extra, "-o", str(out)])
        assert exit_info.value.code in (0, None)
    capsys.readouterr()
    for name in ("results.csv", "pareto.csv"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
