"""Calibrate chapter 2's policy test: does the reference solution pass on 20 of 20 seeds within the CPU budget?

    python benchmarks/calibrate_ch02.py                   # 20 seeds, the notebook's budget and half of it
    python benchmarks/calibrate_ch02.py --seeds 5 --budgets 100
    python benchmarks/calibrate_ch02.py --seeds 20 --workers 14   # a 16-core machine, one torch thread per seed
    python benchmarks/calibrate_ch02.py --notebooks       # chapters 1-2 of benchmarks/notebook_budgets.py

For each training seed it takes the solution notebook's own ``CartpoleTask``
(the solution cell of ``solutions/ch02_cartpole/ch02_cartpole.ipynb``, run
as the grader runs it), trains it with the notebook's budget (256
environments, 100 iterations on the CPU), and evaluates the final policy the
way the test cell does: ``python -I -m course_lib.grading.evaluate_policy``
on the reference task, 500 episodes, with the visible seed (0) and the hidden
one. A seed passes when both success rates reach the threshold (90 %).
Half the budget (50 iterations) is run too, to show the margin.

Prints a table and writes ``benchmarks/out/calibrate_ch02.json`` and the
Markdown section ``benchmarks/out/calibrate_ch02.md`` (for RESULTS.md).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ in (None, ""):
    sys.path.insert(0, ROOT)

import nbformat  # noqa: E402

import course_lib  # noqa: E402
from benchmarks import _calibration as cal  # noqa: E402
from course_lib.grading.ch02 import PREAMBLES  # noqa: E402
from course_lib.rl.config import default_config_path  # noqa: E402

NOTEBOOK = os.path.join(ROOT, "solutions", "ch02_cartpole", "ch02_cartpole.ipynb")
THRESHOLD = 0.9
EVAL_SEEDS = (0, 9127)  # the test cell's visible and hidden evaluation seeds
EPISODES = 500


def solution_class():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    src = next(c.source for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "cartpole_task")
    ns = {"__name__": "__main__"}
    exec(compile(PREAMBLES["ch02"] + "\n" + src, "<solution cell>", "exec"), ns)
    return ns["CartpoleTask"]


def one_seed(job: dict) -> dict:
    """Train the solution's task with one seed and budget, and evaluate it as the test cell does."""
    if job["one_thread"]:
        cal.use_one_torch_thread()
    config = cal.one_thread_config("cartpole") if job["one_thread"] else default_config_path("cartpole")
    t0 = time.perf_counter()
    r = course_lib.train(solution_class(), config=config, num_envs=job["num_envs"], iterations=job["iterations"],
                         device="cpu", seed=job["seed"], runs_dir=job["runs"],
                         name=f"it{job['iterations']}_seed{job['seed']}", progress=False, out=open(os.devnull, "w"))
    t_train = time.perf_counter() - t0
    rates = cal.success_rates(cal.evaluate_like_the_test_cell(r.checkpoint, "cartpole", EPISODES, EVAL_SEEDS))
    t_eval = time.perf_counter() - t0 - t_train
    return {"iterations": job["iterations"], "seed": job["seed"], "train_s": round(t_train, 2),
            "train_wall_s_inside": round(r.wall_time_s, 2), "eval_s": round(t_eval, 2),
            "success": rates, "pass": all(x >= THRESHOLD for x in rates),
            "first_iteration_90pct_in_training": next(
                (m["iteration"] for m in r.metrics if (m.get("success_rate") or 0) >= 0.9), None)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--notebooks", action="store_true", help="measure the notebook and autograding budgets instead")
    p.add_argument("--repeats", type=int, default=1, help="with --notebooks: how many times")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--budgets", type=int, nargs="+", default=[100, 50], help="iterations (the notebook: 100)")
    p.add_argument("--num-envs", type=int, default=256)
    p.add_argument("--workers", type=int, default=1,
                   help="seeds trained at once, one torch thread each (1: in this process, the config's threads)")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "out", "calibrate_ch02.json"))
    a = p.parse_args(argv)
    if a.notebooks:  # kept for the commands in RESULTS.md: chapters 1-2 and chapter 2's autograde
        from benchmarks import notebook_budgets

        return notebook_budgets.main(["--assignments", "ch01_setup", "ch02_cartpole", "--autograde", "ch02_cartpole",
                                      "--repeats", str(a.repeats),
                                      "--out", os.path.join(os.path.dirname(a.out), "notebook_budgets.json")])
    rows = []
    machine = cal.machine_info()
    meta = {"threshold": THRESHOLD, "episodes": EPISODES, "eval_seeds": EVAL_SEEDS, "num_envs": a.num_envs}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="calibrate_ch02_") as runs:
        jobs = [{"iterations": it, "seed": s, "num_envs": a.num_envs, "runs": runs, "one_thread": a.workers > 1}
                for it in a.budgets for s in range(a.seeds)]
        for row in cal.run_jobs(one_seed, jobs, a.workers, ordered=True):
            rows.append(row)
            print(cal.seed_line(row), flush=True)
            cal.write_json(a.out, machine, rows, **meta)  # after each seed: a long run that stops keeps what it did
    cal.finish_machine(machine, t_all)
    cal.write_json(a.out, machine, rows, **meta)
    md = [f"### Chapter 2: calibration of the policy test ({machine['date'][:10]}, {machine['cpu_count']} CPU cores, "
          f"torch {machine['torch']}, load average {machine['loadavg_start'][0]:.1f}-{machine['loadavg_end'][0]:.1f})",
          "",
          f"The solution's `CartpoleTask`, {a.num_envs} environments on the CPU, trained with seeds 0-{a.seeds - 1}; "
          f"each final policy evaluated as the test cell does (fresh `python -I`, reference task, {EPISODES} "
          f"episodes, evaluation seeds {EVAL_SEEDS[0]} and {EVAL_SEEDS[1]}); threshold {100 * THRESHOLD:.0f}%.",
          ""]
    md += cal.budget_table(rows, a.budgets, [cal.COL_SEEDS_PASSED, cal.COL_MIN_SUCCESS, cal.COL_MEDIAN_TRAIN_S,
                                             cal.COL_MAX_TRAIN_S, cal.COL_MAX_EVAL_S])
    md += cal.footer(machine, a.out)
    cal.write_markdown(a.out, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
