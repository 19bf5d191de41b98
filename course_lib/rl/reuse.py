"""Train once, reuse after: a notebook re-run finds its finished training run instead of training again.

    >>> run = train_or_reuse("franka_reach", "ch06_nominal", num_envs=512, iterations=300, device="cpu", seed=0)
    >>> run.checkpoint, run.reused        # ('runs/ch06_nominal/nn/last.pth', True) the second time

A run is reused only when its final checkpoint (``nn/last.pth``) says it was
trained exactly as asked: the same task, seed, number of environments and of
iterations (all of them, or fewer where the same ``stop_at_success`` rule
ended it: an interrupted run is not finished), and the same randomization.
Anything else trains a new run (``runs/<name>_1``, ... when the name is taken:
nothing is overwritten).
"""
from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass

__all__ = ["RunRef", "finished_run", "train_or_reuse"]


@dataclass
class RunRef:
    """A finished training run: its final checkpoint, and whether it was reused rather than trained now."""

    checkpoint: str
    run_dir: str
    iterations: int
    reused: bool
    wall_time_s: float  # s spent now (0 when reused)


def _canonical(x) -> str:
    """JSON with sorted keys and tuples as lists (what a checkpoint's metadata holds)."""
    return json.dumps(json.loads(json.dumps(x, default=str)), sort_keys=True)


def finished_run(name: str, *, task: str, iterations: int, num_envs: int, seed: int = 0, runs_dir: str = "runs",
                 randomization_params: dict | None = None, stop_at_success: float | None = None,
                 stop_window: int | None = None) -> str | None:
    """The final checkpoint of a finished run ``runs_dir/<name>`` (or ``<name>_<k>``) trained as asked, or None.

    The newest match wins. A checkpoint that cannot be read is skipped, not an error (it will be trained again).
    """
    import torch

    dirs = [d for d in glob.glob(os.path.join(runs_dir, glob.escape(name) + "*"))
            if re.fullmatch(re.escape(name) + r"(_\d+)?", os.path.basename(d))]
    want_rand = _canonical(randomization_params) if randomization_params else None
    for d in sorted(dirs, key=os.path.getmtime, reverse=True):
        path = os.path.join(d, "nn", "last.pth")
        if not os.path.isfile(path):
            continue
        try:
            meta = torch.load(path, map_location="cpu", weights_only=True).get("course", {})
        except Exception:  # noqa: BLE001 - a truncated file is simply not a finished run
            continue
        cfg = meta.get("task_cfg") or {}
        rand = cfg.get("randomization_params") if cfg.get("randomize") else None
        ran = int(meta.get("iteration", -1))
        finished = ran == int(iterations) or (bool(meta.get("stopped_early")) and 0 < ran < int(iterations))
        if (meta.get("task") == task and finished
                and meta.get("stop_at_success") == stop_at_success and meta.get("stop_window") == stop_window
                and int(meta.get("seed", -1)) == int(seed) and int(cfg.get("num_envs", -1)) == int(num_envs)
                and (_canonical(rand) if rand else None) == want_rand):
            return path
    return None


def train_or_reuse(task: str, name: str, *, iterations: int, num_envs: int, seed: int = 0, runs_dir: str = "runs",
                   randomize: bool = False, randomization_params: dict | None = None, **train_kwargs) -> RunRef:
    """:func:`course_lib.train` unless :func:`finished_run` finds the same run already finished; prints which."""
    from .trainer import train

    params = randomization_params if randomize else None
    stop = {k: train_kwargs[k] for k in ("stop_at_success", "stop_window") if train_kwargs.get(k) is not None}
    found = finished_run(name, task=task, iterations=iterations, num_envs=num_envs, seed=seed, runs_dir=runs_dir,
                         randomization_params=params, **stop)
    if found is not None:
        import torch

        ran = int(torch.load(found, map_location="cpu", weights_only=True)["course"]["iteration"])
        print(f"Reusing the finished run {os.path.dirname(os.path.dirname(found))} ({ran} iterations, "
              f"{num_envs} environments, seed {seed}): delete it to train again")
        return RunRef(checkpoint=found, run_dir=os.path.dirname(os.path.dirname(found)), iterations=ran,
                      reused=True, wall_time_s=0.0)
    extra = {"randomize": True, "randomization_params": randomization_params} if randomize else {}
    r = train(task, iterations=iterations, num_envs=num_envs, seed=seed, runs_dir=runs_dir, name=name,
              **extra, **train_kwargs)
    return RunRef(checkpoint=r.checkpoint, run_dir=r.run_dir, iterations=int(r.iterations), reused=False,
                  wall_time_s=float(r.wall_time_s))
