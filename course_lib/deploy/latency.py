"""A policy's inference time per control step on the CPU: median and 99th percentile.

    >>> inference_latency({"torch": policy, "onnx": load_exported("reach.onnx")}, num_obs=17)
    {'torch': {'median_us': ..., 'p99_us': ..., 'calls': 2000}, 'onnx': {...}}

What is timed is one query as the control loop makes it: one observation
(batch 1, float32) in, the actions out, input conversion included
(``torch.from_numpy`` for torch modules, a numpy array for onnxruntime).
Each call is timed alone with ``time.perf_counter_ns``; the variants take
turns call by call, so that a neighbour's load on a shared machine hits
them alike. Run with the thread count you deploy with (``torch.set_num_threads``;
an ``ExportedPolicy`` has its own ``threads``).
"""
from __future__ import annotations

import time

import numpy as np

__all__ = ["inference_latency"]


def _as_call(policy):
    import torch

    if isinstance(policy, (torch.nn.Module, torch.jit.ScriptModule)):
        def call(obs):
            with torch.no_grad():
                return policy(torch.from_numpy(obs)).numpy()
        return call
    raw = getattr(policy, "raw", None)  # ExportedPolicy: the graph alone, the input already checked
    return raw if raw is not None else policy


def inference_latency(policies: dict, num_obs: int = 17, calls: int = 2000, warmup: int = 200, batch: int = 1,
                      seed: int = 0) -> dict:
    """``{name: {"median_us", "p99_us", "mean_us", "calls"}}`` for each ``name: policy`` of ``policies``.

    policies: torch modules, ``ExportedPolicy`` objects or callables on numpy
    float32 (batch, num_obs) arrays.
    """
    if calls < 1:
        raise ValueError(f"calls must be at least 1, got {calls}")
    rng = np.random.default_rng(seed)
    obs = [np.ascontiguousarray(rng.standard_normal((batch, num_obs)), dtype=np.float32) for _ in range(64)]
    fns = {name: _as_call(p) for name, p in policies.items()}
    for _ in range(warmup):
        for fn in fns.values():
            fn(obs[0])
    times = {name: np.empty(calls) for name in fns}
    for i in range(calls):
        x = obs[i % len(obs)]
        for name, fn in fns.items():
            t0 = time.perf_counter_ns()
            fn(x)
            times[name][i] = time.perf_counter_ns() - t0
    return {name: {"median_us": float(np.median(t)) / 1e3, "p99_us": float(np.percentile(t, 99)) / 1e3,
                   "mean_us": float(t.mean()) / 1e3, "calls": int(calls), "batch": int(batch)}
            for name, t in times.items()}
