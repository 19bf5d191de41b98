"""What the calibration scripts share: the worker pool, one torch thread per run, the evaluation as a test
cell does it, the per-budget summary table, and the JSON / Markdown they write.

Used by ``calibrate_ch02.py``, ``calibrate_ch03.py``, ``calibrate_ch05.py`` and ``domain_randomization.py``.
Nothing here imports torch at import time: a spawned worker re-imports its script, and
``OMP_NUM_THREADS`` must be set before torch starts its thread pool (:func:`use_one_torch_thread`).
"""
from __future__ import annotations

import concurrent.futures as cf
import datetime
import json
import multiprocessing as mp
import os
import platform
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def use_one_torch_thread() -> None:
    """One torch (and OpenMP) thread in this process, as on a 2-core student machine: without it ``train()``
    gives each run up to 4 threads, and runs side by side starve each other."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def one_thread_config(task: str) -> dict:
    """The task's default training config (``course_lib/rl/configs``) with ``ppo.torch_threads = 1``."""
    import yaml

    from course_lib.rl.config import default_config_path

    with open(default_config_path(task)) as f:
        config = yaml.safe_load(f)
    config["ppo"]["torch_threads"] = 1
    return config


def run_jobs(fn, jobs, workers: int = 1, ordered: bool = False):
    """Yield ``fn(job)`` for each job.

    workers <= 1: in this process, in order. Otherwise in ``workers`` spawned processes (spawn, not fork: a
    forked child of a process that imported torch can hang in its thread pools, and no CUDA state is forked),
    each with one torch thread; results in the order of ``jobs`` if ``ordered``, else as they finish.
    """
    if workers <= 1:
        for j in jobs:
            yield fn(j)
        return
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                initializer=use_one_torch_thread) as ex:
        futures = [ex.submit(fn, j) for j in jobs]
        for fut in (futures if ordered else cf.as_completed(futures)):
            yield fut.result()


def evaluate_like_the_test_cell(checkpoint: str, task: str, episodes: int, seeds, **kw) -> list:
    """``python -I -m course_lib.grading.evaluate_policy`` on the reference task, once per evaluation seed
    (kw: e.g. ``randomization="exercise5"``); returns the JSON results (``ok`` false: the ``error``)."""
    from course_lib.grading.evaluate_policy import run_in_subprocess

    return [run_in_subprocess(checkpoint, task, episodes, s, **kw) for s in seeds]


def success_rates(evals) -> list:
    """Success rate of each evaluation, 0 for one that failed."""
    return [e.get("success_rate", 0.0) if e.get("ok") else 0.0 for e in evals]


def machine_info(device: str | None = None, **extra) -> dict:
    """Host, cores, versions, date and load average at the start (+ ``device``, its GPU's name, ``extra``)."""
    import torch

    info = {"host": platform.node(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version()}
    if device is not None:
        info["device"] = device
    info.update(extra)
    info.update(date=datetime.datetime.now(datetime.timezone.utc).isoformat(), loadavg_start=list(os.getloadavg()))
    if device is not None and device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def finish_machine(machine: dict, t_start: float) -> dict:
    """Add the load average at the end and the total wall time since ``t_start`` (``time.perf_counter()``)."""
    machine["loadavg_end"] = list(os.getloadavg())
    machine["total_s"] = round(time.perf_counter() - t_start, 1)
    return machine


def write_json(path: str, machine: dict, rows: list, **meta) -> None:
    """``{"machine": ..., **meta, "rows": ...}`` into ``path`` (rewritten whole: it can be called after each row)."""
    with open(path, "w") as f:
        json.dump({"machine": machine, **meta, "rows": rows}, f, indent=1)


def seed_line(row: dict, extra: str = "") -> str:
    """One seed's progress line: budget, seed, times, success on each evaluation seed, ``extra``, PASS/FAIL."""
    return (f"iterations {row['iterations']:4d}  seed {row['seed']:2d}  train {row['train_s']:6.1f} s  "
            f"eval {row['eval_s']:5.1f} s  success {' / '.join(f'{100 * x:5.1f}%' for x in row['success'])}"
            f"{extra}  {'PASS' if row['pass'] else 'FAIL'}")


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]  # the upper median: a value some seed really had


#: summary columns: header -> the cell from the rows of one budget
COL_SEEDS_PASSED = ("seeds passed", lambda rs: f"{sum(r['pass'] for r in rs)}/{len(rs)}")
COL_MIN_SUCCESS = ("min success", lambda rs: f"{100 * min(min(r['success']) for r in rs):.1f}%")
COL_MEDIAN_WORST_SUCCESS = ("median success", lambda rs: f"{100 * _median(min(r['success']) for r in rs):.1f}%")
COL_MEDIAN_SUCCESS = ("median success", lambda rs: f"{100 * _median(x for r in rs for x in r['success']):.1f}%")
COL_MEDIAN_TRAIN_S = ("median train s", lambda rs: f"{_median(r['train_s'] for r in rs):.1f}")
COL_MAX_TRAIN_S = ("max train s", lambda rs: f"{max(r['train_s'] for r in rs):.1f}")
COL_MEDIAN_ITERATIONS_RUN = ("median iterations run", lambda rs: f"{_median(r['iterations_run'] for r in rs)}")
COL_MAX_ITERATIONS_RUN = ("max iterations run", lambda rs: f"{max(r['iterations_run'] for r in rs)}")
COL_MAX_EVAL_S = ("max eval s", lambda rs: f"{max(r['eval_s'] for r in rs):.1f}")


def budget_table(rows: list, budgets, columns) -> list:
    """Markdown lines: one row per budget (``iterations``, in the order of ``budgets``) with ``columns``
    (``(header, cell(rows of the budget))`` pairs, e.g. :data:`COL_SEEDS_PASSED`)."""
    md = ["| iterations | " + " | ".join(h for h, _ in columns) + " |", "|---:|" + "---:|" * len(columns)]
    for it in budgets:
        rs = [r for r in rows if r["iterations"] == it]
        md.append(f"| {it} | " + " | ".join(cell(rs) for _, cell in columns) + " |")
    return md


def footer(machine: dict, out: str) -> list:
    return ["", f"Total {machine['total_s']:.0f} s. Raw rows: `{os.path.relpath(out, ROOT)}`."]


def write_markdown(out: str, md: list) -> None:
    """The Markdown section (for RESULTS.md) beside the JSON ``out`` (``.md``), and on stdout."""
    with open(os.path.splitext(out)[0] + ".md", "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
