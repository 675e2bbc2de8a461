"""Real processes: a SIGKILL mid-run resumes to the same weights; two CPU processes (gloo)
see disjoint data and end with identical weights and dev metrics — equal to one process
accumulating both micro-batches."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

SCRIPT = Path(__file__).with_name("tiny_run.py")
ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}")
    env.pop("RANK", None)
    return env


def _run(teacher, out, *extra, launcher=()):
    cmd = [*launcher, str(SCRIPT), "--teacher", str(teacher), "--out", str(out), *extra]
    if not launcher:
        cmd = [sys.executable, *cmd]
    Path(out).mkdir(parents=True, exist_ok=True)
    log = (Path(out) / "stderr.log").open("a")  # a file, not a pipe: a full pipe would block
    proc = subprocess.Popen(cmd, env=_env(), cwd=ROOT, stderr=log, stdout=log)
    log.close()  # the child holds its own descriptor
    proc.log = Path(out) / "stderr.log"  # type: ignore[attr-defined]
    return proc


def _tail(proc) -> str:
    return proc.log.read_text()[-3000:]


def _in_process(teacher, out, *extra):
    """The same run in the test process (one thread, as in the subprocesses)."""
    from tests.training.tiny_run import main

    threads = torch.get_num_threads()
    try:
        main(["--teacher", str(teacher), "--out", str(out), *extra])
    finally:
        torch.set_num_threads(threads)


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_gives_the_uninterrupted_weights(teacher_folder, tmp_path):
    args = ("--student", "t5", "--steps", "8", "--checkpoint-every", "2")  # T5 has dropout
    killed = _run(teacher_folder, tmp_path / "run", *args, "--sleep", "0.4")
    ckpt = tmp_path / "run" / "ckpt"
    deadline = time.monotonic() + 120
    while not any(p.name.startswith("step_") for p in ckpt.glob("step_*")):
        assert killed.poll() is None, _tail(killed)
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    done = sorted(p.name for p in ckpt.glob("step_*"))
    assert done and done[-1] != "step_00000008"  # killed mid-run, after a checkpoint
    rerun = _run(teacher_folder, tmp_path / "run", *args)
    assert rerun.wait(timeout=180) == 0, _tail(rerun)
    _in_process(teacher_folder, tmp_path / "ref", *args)
    assert _equal(
        _weights(tmp_path / "run" / "final_rank0.safetensors"),
        _weights(tmp_path / "ref" / "final_rank0.safetensors"),
    )
    import polars as pl

    timing = pl.col("metric") != "tokens_per_s"
    a = pl.read_parquet(tmp_path / "run" / "curves_rank0.parquet").filter(timing)
    b = pl.read_parquet(tmp_path / "ref" / "curves_rank0.parquet").filter(timing)
    assert a.equals(b)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_cpu_processes_see_disjoint_data_and_end_identical(teacher_folder, tmp_path):
    # `accelerate launch --multi_gpu` starts torchrun-style processes; on a machine without a
    # GPU the loop's Accelerator(cpu=True) then runs MULTI_CPU data parallelism over gloo.
    launcher = (
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
        "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()),
    )  # fmt: skip
    args = ("--student", "shrunk", "--steps", "6", "--checkpoint-every", "3", "--dev")
    two = _run(teacher_folder, tmp_path / "two", *args, launcher=launcher)
    _in_process(teacher_folder, tmp_path / "one", *args, "--accum", "2")
    assert two.wait(timeout=240) == 0, _tail(two)
    seen = [json.loads((tmp_path / "two" / f"seen_rank{r}.json").read_text()) for r in (0, 1)]
    single = json.loads((tmp_path / "one" / "seen_rank0.json").read_text())
    for step, micro in single.items():
        r0, r1 = seen[0][step], seen[1][step]
        assert not {i for mb in r0 for i in mb} & {i for mb in r1 for i in mb}
        assert [*r0, *r1] == micro  # together: the one-process step
    w0, w1 = (_weights(tmp_path / "two" / f"final_rank{r}.safetensors") for r in (0, 1))
    assert _equal(w0, w1)
    w = _weights(tmp_path / "one" / "final_rank0.safetensors")
    assert all(torch.allclose(w0[k], w[k], atol=1e-6) for k in w)
    import polars as pl

    # dev evaluation is sharded over the processes and summed: the same metrics
    dev = [
        pl.read_parquet(tmp_path / d / "curves_rank0.parquet").filter(pl.col("split") == "dev")
        for d in ("two", "one")
    ]
    assert dev[0].height == dev[1].height == 2 * 5  # steps 3, 6 × (loss, 4 views)
    assert dev[0].drop("value").equals(dev[1].drop("value"))
    assert all(abs(a - b) < 1e-5 for a, b in zip(dev[0]["value"], dev[1]["value"], strict=True))
