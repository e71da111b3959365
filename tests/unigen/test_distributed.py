"""Data-parallel training on CPU with gloo and 2 processes equals one process with the same global batch."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

import distributed_worker

HERE = Path(__file__).resolve().parent


def _torchrun(args, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={port}", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=HERE.parents[1])  # the repository root


def test_two_processes_equal_one_process(tmp_path):
    single, double = tmp_path / "single.pt", tmp_path / "double.pt"
    distributed_worker.run(str(single))
    proc = _torchrun([str(HERE / "distributed_worker.py"), str(double)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = torch.load(single), torch.load(double)
    for strategy in a:
        for name, value in a[strategy].items():
            torch.testing.assert_close(b[strategy][name], value, rtol=1e-5, atol=1e-6, msg=f"{strategy}: {name}")
    # and training moved the parameters (the comparison is not between two untouched initialisations)
    torch.manual_seed(0)
    initial = distributed_worker.PointGenerator().state_dict()["lin.weight"]
    assert not torch.allclose(a["ns_gan"]["modules_by_role.model.lin.weight"], initial)


def test_only_rank_zero_writes_run_files(tmp_path):
    run = tmp_path / "run"
    proc = _torchrun(["-m", "unigen", "train", "experiments/configs/ring_gan.yaml", "data.n=2000", "train.steps=10",
                      "train.log_every=5", "train.progress=false", "eval.num_samples=100", "--out", str(run)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = [json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines()
             if json.loads(l)["kind"] == "train"]
    assert steps == [5, 10]
    assert (run / "checkpoint.pt").is_file() and (run / "eval.json").is_file()
