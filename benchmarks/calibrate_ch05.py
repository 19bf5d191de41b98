"""Calibrate chapter 5's policy test: does the reference solution pass on 20 of 20 seeds within the CPU budget?

    python benchmarks/calibrate_ch05.py                                    # 20 seeds, the notebook's CPU budget
    python benchmarks/calibrate_ch05.py --seeds 20 --workers 14            # a 16-core machine, one seed per core
    python benchmarks/calibrate_ch05.py --seeds 20 --workers 4 --device cuda   # the notebook's GPU budget
    python benchmarks/calibrate_ch05.py --seeds 2 --iterations 5 --num-envs 64 --episodes 50   # smoke run

For each training seed it takes the solution notebook's ``TRAIN_RANDOMIZATION``
(the solution cell of ``solutions/ch05_domain_randomization``, run as the
grader runs it), trains the reference reach task with it on ``--device`` with
the notebook's budget (CPU: 512 environments, 300 iterations; CUDA: 4096, 150),
and evaluates the final policy the way the test cell does: ``python -I -m
course_lib.grading.evaluate_policy --randomization exercise5`` (the reference
randomized test set, 500 episodes, on the CPU) with the visible evaluation
seed (0) and the hidden one (7331). A seed passes when both success rates
reach the threshold (``--threshold``, the notebook's 80 %). Half the budget is
run too (``--budgets``), to show the margin.

``--workers N`` trains N seeds at once in separate processes, each with one
torch thread (on a GPU they share the device). Prints a table and writes
``benchmarks/out/calibrate_ch05.json`` and ``benchmarks/out/calibrate_ch05.md``
(for RESULTS.md).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ in (None, ""):
    sys.path.insert(0, ROOT)

from benchmarks import _calibration as cal  # noqa: E402

SOURCE = os.path.join(ROOT, "solutions", "src", "ch05_domain_randomization.py")
EVAL_SEEDS = (0, 7331)  # the test cell's visible and hidden evaluation seeds
THRESHOLD = 0.8  # the test cell's min_success
BUDGETS = {"cpu": (512, 300), "cuda": (4096, 150)}  # the notebook's NUM_ENVS, ITERATIONS per device


def solution_namespace() -> dict:
    """The solution cells of the notebook (samplers, physics, noise, train_params), run after the preamble."""
    from course_lib.grading.core import preamble

    with open(SOURCE) as f:
        text = f.read()
    code = []
    for cell in ("samplers", "physics", "noise", "train_params"):
        body = text.split(f"# %% id={cell} solution\n", 1)[1].split("\n# %%", 1)[0]
        code.append(re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", body, flags=re.M))
    ns: dict = {"__name__": "__solution__"}
    exec(compile(preamble("ch05") + "\n" + "\n".join(code), "<ch05 solution cells>", "exec"), ns)
    return ns


def train_one(job: dict) -> dict:
    """One training run (in a worker process): returns the checkpoint and timings."""
    cal.use_one_torch_thread()  # one per run, as on a 2-core student machine (train() would give 4 on 16 cores)
    import course_lib

    extra = {"randomize": True, "randomization_params": job["params"]} if job["randomized"] else {}
    t0 = time.perf_counter()
    r = course_lib.train("franka_reach", config=cal.one_thread_config("franka_reach"), num_envs=job["num_envs"],
                         iterations=job["iterations"], device=job["device"], seed=job["seed"], runs_dir=job["runs"],
                         name=job["name"], progress=False, out=open(os.devnull, "w"),
                         stop_at_success=job.get("stop_at_success"), **extra)
    return {**{k: v for k, v in job.items() if k != "params"}, "checkpoint": r.checkpoint,
            "iterations_run": r.iterations, "stopped_early": r.stopped_early,
            "train_s": round(time.perf_counter() - t0, 2), "train_wall_s_inside": round(r.wall_time_s, 2)}


def evaluate_one(job: dict) -> dict:
    """The test cell's evaluation, in a fresh interpreter, on each evaluation seed."""
    t0 = time.perf_counter()
    evals = cal.evaluate_like_the_test_cell(job["checkpoint"], "franka_reach", job["episodes"], EVAL_SEEDS,
                                            randomization="exercise5")
    rates = cal.success_rates(evals)
    errors = [e.get("error") for e in evals if not e.get("ok")]
    return {**job, "success": rates, "eval_s": round(time.perf_counter() - t0, 2), "errors": errors,
            "pass": all(x >= job["threshold"] for x in rates)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--workers", type=int, default=1, help="training runs at once (one torch thread each)")
    p.add_argument("--device", default="cpu", help="training device: cpu or cuda (evaluation is on the CPU)")
    p.add_argument("--num-envs", type=int, default=None, help="default: the notebook's for --device")
    p.add_argument("--iterations", type=int, default=None, help="default: the notebook's for --device")
    p.add_argument("--budgets", type=float, nargs="+", default=[1.0, 0.5],
                   help="fractions of --iterations to run (default: the notebook's budget and half of it)")
    p.add_argument("--episodes", type=int, default=500)
    p.add_argument("--threshold", type=float, default=THRESHOLD)
    p.add_argument("--stop-at-success", type=float, metavar="RATE",
                   help="train as the notebook does with stop_at_success=RATE: the budget is the most it trains")
    p.add_argument("--with-nominal", action="store_true",
                   help="also train the notebook's nominal policy per seed (timed; evaluated on the same "
                   "randomized test set: Exercise 5's drop; it is not what the test grades)")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "out", "calibrate_ch05.json"))
    a = p.parse_args(argv)
    dev_kind = "cuda" if a.device.startswith("cuda") else "cpu"
    num_envs = a.num_envs or BUDGETS[dev_kind][0]
    iterations = a.iterations or BUDGETS[dev_kind][1]
    params = solution_namespace()["TRAIN_RANDOMIZATION"]
    machine = cal.machine_info(a.device)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    t_all = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="calibrate_ch05_") as runs:
        kinds = (True, False) if a.with_nominal else (True,)
        jobs = [{"seed": s, "iterations": max(1, int(round(f * iterations))), "num_envs": num_envs,
                 "device": a.device, "runs": runs, "randomized": randomized,
                 "name": f"{'randomized' if randomized else 'nominal'}_it{int(round(f * iterations))}_seed{s}",
                 "params": params, "episodes": a.episodes, "threshold": a.threshold,
                 "stop_at_success": a.stop_at_success}
                for f in a.budgets for s in range(a.seeds) for randomized in kinds]
        trained = list(cal.run_jobs(train_one, jobs, a.workers))
        for row in cal.run_jobs(evaluate_one, trained, max(1, min(a.workers, len(trained)))):
            rows.append(row)
            extra = f"  stopped at {row['iterations_run']}" if row["stopped_early"] else ""
            print(cal.seed_line(row, extra + ("" if row["randomized"] else "  (nominal training)"))
                  + ("  " + "; ".join(row["errors"]) if row["errors"] else ""), flush=True)
    cal.finish_machine(machine, t_all)
    rows.sort(key=lambda r: (not r["randomized"], -r["iterations"], r["seed"]))
    cal.write_json(a.out, machine, rows, threshold=a.threshold, episodes=a.episodes, eval_seeds=EVAL_SEEDS,
                   num_envs=num_envs, workers=a.workers, train_randomization=params)
    where = machine.get("gpu", f"{machine['cpu_count']} CPU cores")
    md = [f"### Chapter 5: calibration of the policy test ({machine['date'][:10]}, {where}, training on "
          f"{a.device}, {a.workers} worker(s), torch {machine['torch']}, load average "
          f"{machine['loadavg_start'][0]:.1f}-{machine['loadavg_end'][0]:.1f})", "",
          f"The solution's `TRAIN_RANDOMIZATION`, {num_envs} environments, trained with seeds 0-{a.seeds - 1}; each "
          f"final policy evaluated as the test cell does (fresh `python -I`, reference task randomized with "
          f"`EXERCISE5_TEST_SET`, {a.episodes} episodes, evaluation seeds {EVAL_SEEDS[0]} and {EVAL_SEEDS[1]}); "
          f"threshold {100 * a.threshold:.0f}%.", ""]
    columns = [cal.COL_SEEDS_PASSED, cal.COL_MIN_SUCCESS, cal.COL_MEDIAN_SUCCESS, cal.COL_MEDIAN_TRAIN_S,
               cal.COL_MAX_TRAIN_S, cal.COL_MAX_EVAL_S]
    if a.stop_at_success is not None:
        md += [f"Each run stops early once {100 * a.stop_at_success:.0f}% of the episodes that ended in the last "
               f"32 iterations were successes (`stop_at_success`, as the notebook trains); the budget is the most it "
               f"trains.", ""]
        columns += [cal.COL_MEDIAN_ITERATIONS_RUN, cal.COL_MAX_ITERATIONS_RUN]
    for randomized in ((True, False) if a.with_nominal else (True,)):
        if a.with_nominal:
            md += ["", "**" + ("Randomized training (what the test grades)" if randomized else
                               "Nominal training (not graded; the same test set: Exercise 5's drop)") + "**", ""]
        md += cal.budget_table([r for r in rows if r["randomized"] == randomized],
                               sorted({r["iterations"] for r in rows}, reverse=True), columns)
    md += cal.footer(machine, a.out)
    cal.write_markdown(a.out, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
