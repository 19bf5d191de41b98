"""Calibrate chapter 3's policy tests: does the reference solution pass on 20 of 20 seeds within the CPU budget?

    python benchmarks/calibrate_ch03.py                          # 20 seeds, the notebook's budget and half of it
    python benchmarks/calibrate_ch03.py --seeds 4 --budgets 100 --workers 2

For each training seed it takes the solution notebook's own ``FrankaReachTask``
(the solution cell of ``solutions/ch03_franka_reach/ch03_franka_reach.ipynb``,
run after the notebook's imports as the grader runs it), trains it with the
notebook's CPU budget (512 environments, 100 iterations, 1 torch thread) and
evaluates the final policy as the test cells do: ``python -I -m
course_lib.grading.evaluate_policy`` on the reference task, 1000 episodes,
with the visible seed (0) and the hidden one (9131). A seed passes when both
evaluations reach 80 % success and a mean reward per control step above -0.2.
Half the budget (50 iterations) is run too, to show the margin.

Seeds run in ``--workers`` processes of one torch thread each (1: in this
process, on one thread; the numbers of a seed do not depend on how many run
beside it; its times do). Prints a table
and writes ``benchmarks/out/calibrate_ch03.json`` and ``.md`` (for RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ in (None, ""):
    sys.path.insert(0, ROOT)

from benchmarks import _calibration as cal  # noqa: E402

NOTEBOOK = os.path.join(ROOT, "solutions", "ch03_franka_reach", "ch03_franka_reach.ipynb")
MIN_SUCCESS = 0.8
MIN_STEP_REWARD = -0.2
EVAL_SEEDS = (0, 9131)  # the test cells' visible and hidden evaluation seeds
EPISODES = 1000


def solution_class():
    from course_lib.grading.core import preamble

    with open(NOTEBOOK) as f:  # plain JSON: the GPU machine has no nbformat
        nb = json.load(f)
    src = next("".join(c["source"]) for c in nb["cells"]
               if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "reach_task")
    ns = {"__name__": "__main__"}
    exec(compile(preamble("ch03") + "\n" + src, "<solution cell>", "exec"), ns)
    return ns["FrankaReachTask"]


def one_seed(job: dict) -> dict:
    cal.use_one_torch_thread()  # as on a 2-core student machine (bigger machines would default to 4 per process)
    import course_lib

    config = cal.one_thread_config("franka_reach")
    config["ppo"].update(job.get("ppo", {}))
    t0 = time.perf_counter()
    r = course_lib.train(solution_class(), config=config, num_envs=job["num_envs"], iterations=job["iterations"],
                         device="cpu", seed=job["seed"], runs_dir=job["runs"],
                         name=f"{job.get('label', '')}it{job['iterations']}_seed{job['seed']}", progress=False,
                         out=open(os.devnull, "w"), stop_at_success=job.get("stop_at_success"))
    t_train = time.perf_counter() - t0
    evals = cal.evaluate_like_the_test_cell(r.checkpoint, "franka_reach", EPISODES, EVAL_SEEDS)
    t_eval = time.perf_counter() - t0 - t_train
    rates = cal.success_rates(evals)
    per_step = [e.get("mean_step_reward", float("-inf")) if e.get("ok") else float("-inf") for e in evals]
    return {"iterations": job["iterations"], "seed": job["seed"], "label": job.get("label", ""),
            "ppo": job.get("ppo", {}), "stop_at_success": job.get("stop_at_success"),
            "iterations_run": r.iterations, "stopped_early": r.stopped_early, "train_s": round(t_train, 2),
            "eval_s": round(t_eval, 2), "success": rates, "mean_step_reward": per_step,
            "mean_length": [e.get("mean_length") for e in evals],
            "pass": all(x >= MIN_SUCCESS for x in rates) and all(x > MIN_STEP_REWARD for x in per_step),
            "errors": [e.get("error") for e in evals if not e.get("ok")]}


#: the summary's column for the second test cell
MIN_REWARD_PER_STEP = ("min reward/step", lambda rs: f"{min(min(r['mean_step_reward']) for r in rs):+.3f}")


def parse_variant(text: str):
    """'LABEL:KEY=VALUE,...' -> (LABEL, {KEY: VALUE}) with numbers as numbers."""
    import yaml

    label, _, rest = text.partition(":")
    ppo = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        ppo[key.strip()] = yaml.safe_load(value)
    return label, ppo


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--budgets", type=int, nargs="+", default=[100, 50], help="iterations (the notebook: 100)")
    p.add_argument("--num-envs", type=int, default=512)
    p.add_argument("--workers", type=int, default=1, help="seeds trained at once, one torch thread each")
    p.add_argument("--stop-at-success", type=float, metavar="RATE",
                   help="train with course_lib.train(..., stop_at_success=RATE): the budget is the most it trains")
    p.add_argument("--variant", action="append", default=[], metavar="LABEL:KEY=VALUE,...",
                   help="a PPO variant to calibrate beside the file's settings, e.g. 'kl:kl_threshold=0.016' "
                   "(repeatable; LABEL alone is the file's settings)")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "out", "calibrate_ch03.json"))
    a = p.parse_args(argv)
    variants = [parse_variant(v) for v in a.variant] or [("", {})]
    machine = cal.machine_info(workers=a.workers)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="calibrate_ch03_") as runs:
        jobs = [{"iterations": it, "seed": s, "num_envs": a.num_envs, "runs": runs, "label": label, "ppo": ppo,
                 "stop_at_success": a.stop_at_success}
                for s in range(a.seeds) for label, ppo in variants for it in a.budgets]  # seeds first: a run
        # cut off by a time limit has the first seeds of every variant
        rows = []
        for row in cal.run_jobs(one_seed, jobs, a.workers):
            rows.append(row)
            stopped = f"  stopped at {row['iterations_run']}" if row["stopped_early"] else ""
            print(cal.seed_line(row, f"  reward/step {' / '.join(f'{x:+.3f}' for x in row['mean_step_reward'])}"
                                     f"{stopped}  {row['label']}"), flush=True)
            cal.write_json(a.out, machine, rows, partial=True)  # what has finished, should the run be cut off
    rows.sort(key=lambda r: ([v[0] for v in variants].index(r["label"]), a.budgets.index(r["iterations"]),
                             r["seed"]))
    cal.finish_machine(machine, t_all)
    cal.write_json(a.out, machine, rows, min_success=MIN_SUCCESS, min_step_reward=MIN_STEP_REWARD, episodes=EPISODES,
               eval_seeds=EVAL_SEEDS, num_envs=a.num_envs)
    md = [f"### Chapter 3: calibration of the policy tests ({machine['date'][:10]}, {machine['host']}, "
          f"{machine['cpu_count']} CPU cores, {a.workers} seeds at a time on 1 torch thread each, torch "
          f"{machine['torch']})", "",
          f"The solution's `FrankaReachTask`, {a.num_envs} environments on the CPU, trained with seeds "
          f"0-{a.seeds - 1}; each final policy evaluated as the test cells do (fresh `python -I`, reference task, "
          f"{EPISODES} episodes, evaluation seeds {EVAL_SEEDS[0]} and {EVAL_SEEDS[1]}); a seed passes with at least "
          f"{100 * MIN_SUCCESS:.0f}% success and a mean reward per control step above {MIN_STEP_REWARD} on both.", ""]
    columns = [cal.COL_SEEDS_PASSED, cal.COL_MIN_SUCCESS, cal.COL_MEDIAN_WORST_SUCCESS, MIN_REWARD_PER_STEP,
               cal.COL_MEDIAN_TRAIN_S, cal.COL_MAX_TRAIN_S]
    if a.stop_at_success is not None:
        md += [f"Each run stops early once {100 * a.stop_at_success:.0f}% of the episodes that ended in the last "
               f"32 iterations were successes (`stop_at_success`); the budget is the most it trains.", ""]
        columns += [cal.COL_MEDIAN_ITERATIONS_RUN, cal.COL_MAX_ITERATIONS_RUN]
    for label, ppo in variants:
        if len(variants) > 1 or label:
            md += ["", f"**{label or 'the file'}**: " + (", ".join(f"`ppo.{k}: {v}`" for k, v in ppo.items())
                                                         or "the file's settings"), ""]
        md += cal.budget_table([r for r in rows if r["label"] == label], a.budgets, columns)
    md += cal.footer(machine, a.out)
    cal.write_markdown(a.out, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
