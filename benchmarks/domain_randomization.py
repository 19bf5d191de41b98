"""Exercise 5 measured: nominal vs randomized training, each policy on the nominal and the randomized test set.

    python benchmarks/domain_randomization.py                                  # 3 seeds, the notebook's CPU budget
    python benchmarks/domain_randomization.py --seeds 10 --workers 14          # a 16-core machine
    python benchmarks/domain_randomization.py --seeds 10 --workers 4 --device cuda   # the notebook's GPU budget
    python benchmarks/domain_randomization.py --seeds 1 --iterations 4 --num-envs 64 --episodes 50 --sweep-episodes 20

For each seed, the reference reach task is trained twice with the same budget
and seed: on the nominal physics, and with the solution notebook's
``TRAIN_RANDOMIZATION``. Each final policy is evaluated (deterministic
actions, on the training device) on the same ``--episodes`` episodes of the
nominal task and of the randomized test set ``EXERCISE5_TEST_SET`` (masses
x0.7-1.3 per environment, joint friction 0.025-0.075 N m, joint damping
0.175-0.525 N m s/rad), and on the mass sweep of the notebook (every link's
mass x1, 1.3, 2, 3). The chapter's claims are printed beside the numbers:
"e.g. 90% -> 40%" for the nominal policy under variation, "> 70%" for the
randomized one.

Prints a table and writes ``benchmarks/out/domain_randomization.json`` and
``.md`` (for RESULTS.md).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ in (None, ""):
    sys.path.insert(0, ROOT)

from benchmarks import _calibration as cal  # noqa: E402
from benchmarks.calibrate_ch05 import BUDGETS, solution_namespace, train_one  # noqa: E402

SWEEP = (1.0, 1.3, 2.0, 3.0)
CLAIMS = {("nominal", "nominal"): "e.g. 90%", ("nominal", "randomized"): "e.g. 40% (the example drop)",
          ("randomized", "nominal"): "-", ("randomized", "randomized"): "> 70%"}


def _mass(s: float) -> dict:
    return {"actor_params": {"franka": {"rigid_body_properties": {"mass": {
        "range": [s, s], "operation": "scaling", "distribution": "uniform", "shared": True}}}}}


def evaluate_run(job: dict) -> dict:
    """Both test sets and the sweep, for one trained policy (in a worker process)."""
    cal.use_one_torch_thread()
    from course_lib.envs.randomization import EXERCISE5_TEST_SET
    from course_lib.rl import evaluate

    t0 = time.perf_counter()
    out = {}
    for test_set, overrides in (("nominal", {}), ("randomized", {"randomize": True,
                                                                 "randomization_params": EXERCISE5_TEST_SET})):
        r = evaluate("franka_reach", job["checkpoint"], episodes=job["episodes"], seed=0, device=job["device"],
                     **overrides)
        out[test_set] = {"success_rate": r.success_rate, "ci95": list(r.ci95), "mean_length": r.mean_length}
    sweep = {}
    for s in SWEEP:
        r = evaluate("franka_reach", job["checkpoint"], episodes=job["sweep_episodes"], seed=0, device=job["device"],
                     randomize=True, randomization_params=_mass(s))
        sweep[str(s)] = r.success_rate
    return {**job, "results": out, "sweep": sweep, "eval_s": round(time.perf_counter() - t0, 2)}


def _mean_sd(xs):
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--num-envs", type=int, default=None, help="default: the notebook's for --device")
    p.add_argument("--iterations", type=int, default=None, help="default: the notebook's for --device")
    p.add_argument("--episodes", type=int, default=1000, help="per test set (the notebook: 1000)")
    p.add_argument("--sweep-episodes", type=int, default=300)
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "out", "domain_randomization.json"))
    a = p.parse_args(argv)
    kind = "cuda" if a.device.startswith("cuda") else "cpu"
    num_envs, iterations = a.num_envs or BUDGETS[kind][0], a.iterations or BUDGETS[kind][1]
    params = solution_namespace()["TRAIN_RANDOMIZATION"]
    machine = cal.machine_info(a.device)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="domain_randomization_") as runs:
        jobs = [{"seed": s, "iterations": iterations, "num_envs": num_envs, "device": a.device, "runs": runs,
                 "name": f"{'randomized' if rnd else 'nominal'}_seed{s}", "randomized": rnd, "params": params,
                 "episodes": a.episodes, "sweep_episodes": a.sweep_episodes}
                for s in range(a.seeds) for rnd in (False, True)]
        trained = list(cal.run_jobs(train_one, jobs, a.workers))
        rows = []
        for row in cal.run_jobs(evaluate_run, trained, a.workers):
            rows.append(row)
            res = row["results"]
            print(f"seed {row['seed']:2d} {'randomized' if row['randomized'] else 'nominal':>10} training "
                  f"({row['train_s']:.0f} s): nominal test {100 * res['nominal']['success_rate']:5.1f}%, randomized "
                  f"test {100 * res['randomized']['success_rate']:5.1f}%; sweep "
                  + ", ".join(f"x{k}: {100 * v:.0f}%" for k, v in row["sweep"].items()), flush=True)
    cal.finish_machine(machine, t_all)
    rows.sort(key=lambda r: (r["randomized"], r["seed"]))
    cal.write_json(a.out, machine, rows, num_envs=num_envs, iterations=iterations, episodes=a.episodes,
                   sweep_episodes=a.sweep_episodes, train_randomization=params)
    where = machine.get("gpu", f"{machine['cpu_count']} CPU cores")
    md = [f"### Exercise 5: nominal vs randomized training ({machine['date'][:10]}, {where}, training and evaluation "
          f"on {a.device}, torch {machine['torch']}, load average {machine['loadavg_start'][0]:.1f}-"
          f"{machine['loadavg_end'][0]:.1f})", "",
          f"`python benchmarks/domain_randomization.py {' '.join(argv if argv is not None else sys.argv[1:])}`: "
          f"{num_envs} environments, {iterations} iterations, seeds 0-{a.seeds - 1}; {a.episodes} episodes per test "
          f"set (the same for every policy), {a.sweep_episodes} per sweep point. Mean over seeds (sd).", "",
          "| policy | nominal test set | randomized test set (EXERCISE5_TEST_SET) | drop | chapter (randomized) | "
          "mean length, nominal / randomized | median train s |", "|---|---:|---:|---:|---|---:|---:|"]
    summary = {}
    for training in ("nominal", "randomized"):
        rs = [r for r in rows if r["randomized"] == (training == "randomized")]
        nom = _mean_sd([r["results"]["nominal"]["success_rate"] for r in rs])
        rnd = _mean_sd([r["results"]["randomized"]["success_rate"] for r in rs])
        drop = _mean_sd([r["results"]["nominal"]["success_rate"] - r["results"]["randomized"]["success_rate"]
                         for r in rs])
        lens = [statistics.fmean(r["results"][t]["mean_length"] for r in rs) for t in ("nominal", "randomized")]
        ts = sorted(r["train_s"] for r in rs)
        summary[training] = {"nominal": nom, "randomized": rnd, "drop": drop,
                             "sweep": {k: _mean_sd([r["sweep"][k] for r in rs]) for k in rs[0]["sweep"]}}
        md.append(f"| {training} training | {100 * nom[0]:.1f}% ({100 * nom[1]:.1f}) | {100 * rnd[0]:.1f}% "
                  f"({100 * rnd[1]:.1f}) | {100 * drop[0]:+.1f} pts | {CLAIMS[training, 'randomized']} | "
                  f"{lens[0]:.0f} / {lens[1]:.0f} | {ts[len(ts) // 2]:.0f} |")
    md += ["", "Mass sweep (every link's mass times the factor, the same in every environment), success:", "",
           "| policy | " + " | ".join(f"x{s}" for s in SWEEP) + " |", "|---|" + "---:|" * len(SWEEP)]
    for training in ("nominal", "randomized"):
        sw = summary[training]["sweep"]
        md.append(f"| {training} training | " + " | ".join(f"{100 * sw[str(s)][0]:.1f}%" for s in SWEEP) + " |")
    rnd = summary["randomized"]["randomized"][0]
    md += ["", f"Chapter: the randomized policy keeps > 70% under variation: "
               f"{'holds' if rnd > 0.7 else 'does not hold'} ({100 * rnd:.1f}%). The chapter's example drop of the "
               f"nominal policy (90% -> 40%): measured {100 * summary['nominal']['drop'][0]:+.1f} points."]
    md += cal.footer(machine, a.out)
    cal.write_markdown(a.out, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
