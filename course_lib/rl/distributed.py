"""Training on several GPUs of one machine: ``course_lib.train(task, gpus=N)``, ``course train TASK --gpus N``.

    >>> result = course_lib.train("franka_reach", gpus=4)      # 4 processes, one per GPU, started by torchrun
    Training franka_reach on 4 GPUs (cuda:0..3, nccl): 4096 environments in all (1024 per GPU), ...

How it runs:

- ``train`` (this process; ``trainer._train_multi``) checks the request at
  once (:func:`check_gpus`: CUDA, enough GPUs; :func:`split_envs`: a
  ``num_envs`` that splits), then :func:`launch` starts ``N`` processes
  through torch's own launcher, ``python -m torch.distributed.run --standalone
  --nproc-per-node N -m course_lib.rl.dist_worker SPEC``, forwards rank 0's
  output and returns rank 0's :class:`~course_lib.rl.trainer.TrainResult`.
- Each process (:mod:`course_lib.rl.dist_worker`) initialises
  ``torch.distributed`` (NCCL on GPUs) and trains with rl-games' ``multi_gpu``: process ``r`` builds
  ``num_envs / N`` environments on ``cuda:r`` with seed ``seed + r``; rl-games
  broadcasts rank 0's initial weights, averages the gradients of every
  minibatch over the processes (all-reduce) and stops them together.
- ``num_envs`` (file, ``--num-envs``) is the total across the GPUs.
  ``ppo.minibatch_size`` is split too, so that a rollout keeps the file's
  number of minibatches (each optimiser step averages ``N`` per-process
  minibatches). The other PPO settings mean what they mean on one GPU.
- Rank 0 alone writes ``runs/<name>/`` (configs, checkpoints, TensorBoard,
  ``metrics.csv``) and prints the progress line; ``distributed.yaml`` there
  lists every process's device, environments, seed and the environment steps
  it ran. FPS and environment steps count all processes; Mean Reward and
  Success Rate are over rank 0's environments (as rl-games reports them).
  Running mean/std normalisers are per process (rl-games does not all-reduce
  them); the checkpoint holds rank 0's. It loads and evaluates like any other.
- ``device="cpu"`` (``--device cpu``) runs the same processes on the CPU with
  the gloo backend: the course's test of this code path on machines without
  GPUs. It is not faster than one process.

rl-games 1.6.5 hard-codes ``init_process_group("nccl")`` and ``cuda:<LOCAL_RANK>``
in its ``multi_gpu`` branch: the course's agent (``trainer._make_agent_class``)
takes the ranks itself; the comments there say why.
"""
from __future__ import annotations

import collections
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass

import torch

__all__ = ["launch", "check_gpus", "split_envs", "importable_task", "RankInfo", "MultiGPUError"]


class MultiGPUError(ValueError):
    """A multi-GPU request that cannot run here (no CUDA, too few GPUs, environments that do not split)."""


@dataclass(frozen=True)
class RankInfo:
    """One process of a multi-GPU run, as torchrun numbered it."""

    rank: int
    local_rank: int
    world_size: int
    backend: str  # "nccl" or "gloo"
    kind: str  # "cuda" or "cpu"


def check_gpus(gpus, device=None) -> tuple[int, str, str]:
    """Check a request for ``gpus`` processes on ``device`` -> ``(n, kind, backend)``; a :class:`MultiGPUError`
    that says what to do otherwise. ``device``: None or ``"cuda"`` (GPUs), ``"cpu"`` (gloo on the CPU)."""
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise MultiGPUError(f"gpus must be a positive number of GPUs, got {gpus!r}")
    dev = "cuda" if device in (None, "auto") else str(device)
    if dev == "cpu":
        return gpus, "cpu", "gloo"
    if dev != "cuda":
        raise MultiGPUError(f"with gpus, device must be 'cuda' (process r runs on cuda:r) or 'cpu' (gloo, to test "
                            f"the code path), got {device!r}")
    if not torch.cuda.is_available():
        raise MultiGPUError(f"{gpus} GPU{'s' if gpus > 1 else ''} asked for, but this machine has no CUDA GPU "
                            f"(torch.cuda.is_available() is False). To run the same {gpus} processes on the CPU "
                            f"(gloo backend; a test of the code path, not faster), use device 'cpu' "
                            f"(--device cpu).")
    have = torch.cuda.device_count()
    if gpus > have:
        raise MultiGPUError(f"{gpus} GPUs asked for, but this machine has {have} (torch.cuda.device_count(); "
                            f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}): "
                            f"use at most {have}")
    return gpus, "cuda", "nccl"


def split_envs(num_envs: int, n: int, kind: str = "cuda") -> int:
    """``num_envs`` (the total) split evenly over ``n`` processes -> environments per process."""
    units = "GPUs" if kind == "cuda" else "processes"
    if num_envs % n:
        lo, hi = (num_envs // n) * n, (num_envs // n + 1) * n
        near = f"{lo} or {hi}" if lo > 0 else f"{hi}"
        raise MultiGPUError(f"num_envs={num_envs} does not split across {n} {units}: num_envs is the total over "
                            f"all {units}; give a multiple of {n} (e.g. {near})")
    return num_envs // n


def importable_task(task):
    """A task the processes can build: a registered name, or a class in an importable module."""
    from ..envs import VecEnvBase

    if isinstance(task, str):
        return task
    if isinstance(task, VecEnvBase):
        raise MultiGPUError("with gpus, each process builds its own environments: give the task's name "
                            "(or its class), not a task instance")
    if isinstance(task, type) and issubclass(task, VecEnvBase):
        if task.__module__ in ("__main__", "builtins") or "<locals>" in task.__qualname__:
            raise MultiGPUError(f"with gpus, the processes must import the task class {task.__qualname__}: "
                                f"define it in a .py file (a module), not in a notebook or a function")
        return task
    return task  # trainer._resolve_task says what is wrong


def launch(spec: dict, out=None):
    """Start ``spec["world_size"]`` processes of :mod:`course_lib.rl.dist_worker` through torchrun, forward rank
    0's output to ``out`` and return what rank 0 returned (a TrainResult). ``spec``: the arguments of the run,
    checked already (``trainer._train_multi``)."""
    out = out if out is not None else sys.stdout
    n = int(spec["world_size"])
    work = tempfile.mkdtemp(prefix="course_multi_gpu_")
    try:
        spec_path = os.path.join(work, "spec.pkl")
        with open(spec_path, "wb") as f:
            pickle.dump(spec, f)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
               f"--nproc-per-node={n}", "--max-restarts=0", "--monitor-interval=1",
               f"--log-dir={os.path.join(work, 'torchrun')}",  # torchrun's own files, removed with `work`
               "-m", "course_lib.rl.dist_worker", spec_path]
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env_vars = dict(os.environ, PYTHONUNBUFFERED="1",
                        PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        if "OMP_NUM_THREADS" not in env_vars:  # torchrun would set 1 and warn about it
            env_vars["OMP_NUM_THREADS"] = str(max(1, min(4, (os.cpu_count() or 1) // n)))
        rc, err_tail, interrupted = _run_forwarding(cmd, env_vars, out)
        result_path = os.path.join(work, "result.pkl")
        if interrupted and not os.path.exists(result_path):
            raise KeyboardInterrupt
        if (rc != 0 and not interrupted) or not os.path.exists(result_path):
            tail = "".join(err_tail).strip()
            raise RuntimeError(f"multi-GPU training failed (torchrun exit status {rc}); its last messages:\n{tail}")
        with open(result_path, "rb") as f:
            return pickle.load(f)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_forwarding(cmd, env, out):
    """Run ``cmd``; its stdout (rank 0's lines) goes to ``out`` as it comes, its stderr to ``sys.stderr``.
    -> (exit status, the last lines of stderr, whether it was interrupted).

    Ctrl-C (KeyboardInterrupt here): torchrun runs in a process group of its own, so that it gets exactly one
    SIGINT, from here, in a terminal as in a notebook; it passes it to every process and, as in a single-process
    run, rank 0 saves ``nn/last.pth`` and returns. A second Ctrl-C, or a minute without an end, stops them all."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, env=env,
                            start_new_session=True)
    tail = collections.deque(maxlen=60)

    def pump(stream, write):
        for line in stream:
            write(line)

    def to_out(line):
        out.write(line)
        out.flush()

    quiet = []  # after Ctrl-C: torchrun's report of the signal (a traceback) is not shown

    def to_err(line):
        tail.append(line)
        if not quiet:
            sys.stderr.write(line)
            sys.stderr.flush()

    threads = [threading.Thread(target=pump, args=(proc.stdout, to_out), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, to_err), daemon=True)]
    for t in threads:
        t.start()
    interrupted = False
    try:
        try:
            rc = proc.wait()
        except KeyboardInterrupt:
            interrupted = True
            quiet.append(True)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=60)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        rc = None
    finally:
        if proc.poll() is None:  # whatever stopped this process: no training left behind
            proc.terminate()  # torchrun stops its processes (each has a session of its own) on SIGTERM
            try:
                rc = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
    for t in threads:
        t.join(timeout=10)
    return rc, list(tail), interrupted
