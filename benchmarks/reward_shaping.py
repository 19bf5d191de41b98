"""Exercise 4, measured: sparse against dense reward, and the improved reward with and without its collision penalty.

Run from the repository root:

    python benchmarks/reward_shaping.py                          # the notebook's settings on this machine's device
    python benchmarks/reward_shaping.py --seeds 0 1 2            # several seeds (one row per seed and reward)
    python benchmarks/reward_shaping.py --device cuda --num-envs 4096 --out benchmarks/out/reward_shaping_gpu.json
    python benchmarks/reward_shaping.py --quick                  # 2 iterations, 8 environments: a smoke test

What is measured, per seed (the same seed for every reward of that seed):

- sparse and dense: ``course_lib.train("franka_reach", reward=...)`` for
  ``--iterations`` (200, the chapter's), then the success rate of the last
  50 iterations of training (episode-weighted, ``final_success`` of the
  chapter 4 notebook) and of the final policy evaluated deterministically
  on ``--episodes`` fixed episodes of the reference task (seed 0);
- improved with and without the collision penalty (``collision_penalty=0,
  reset_on_collision=False``) for ``--improved-iterations``, each policy
  evaluated on the improved task, where a collision ends an episode: success,
  and collisions per episode (episodes that ended early without success);
  a random policy gives the baseline.

Prints a table and writes JSON (default ``benchmarks/out/reward_shaping_<device>.json``).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time

if __package__ in (None, ""):  # `python benchmarks/reward_shaping.py`: make the repo root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import course_lib  # noqa: E402
from course_answers.reach_rewards import final_success as reference_final_success  # noqa: E402
from course_lib.rl.trainer import resolve_device  # noqa: E402
from benchmarks._calibration import one_thread_config  # noqa: E402

NO_PENALTY = {"collision_penalty": 0.0, "reset_on_collision": False}


def collision_eval(policy, episodes: int, device: str) -> dict:
    """Success and collisions per episode on the improved task (a collision ends the episode, as a failure)."""
    ev = course_lib.evaluate("franka_reach", policy, episodes=episodes, seed=0, device=device, reward="improved")
    succ, length = torch.tensor(ev.successes), torch.tensor(ev.lengths)
    collided = (~succ) & (length < 500)
    return {"success": ev.success_rate, "ci95": list(ev.ci95), "collisions_per_episode": float(collided.float().mean()),
            "mean_length": ev.mean_length}


def run(args) -> dict:
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    # train() would give each run up to 4 threads on a many-core machine: runs side by side then starve
    # each other (a 16-core host ran at load 30 with five such runs), so the thread count is in the config.
    config = one_thread_config("franka_reach")
    config["ppo"]["torch_threads"] = args.threads
    runs_dir = tempfile.mkdtemp(prefix="reward_shaping_")
    rows = []
    for seed in args.seeds:
        for reward in ("sparse", "dense"):
            t0 = time.perf_counter()
            r = course_lib.train("franka_reach", config, num_envs=args.num_envs, iterations=args.iterations, device=device,
                                 seed=seed, name=f"{reward}_{seed}", runs_dir=runs_dir, reward=reward,
                                 progress=False, print_interval=max(1, args.iterations // 4))
            train_s = time.perf_counter() - t0
            ev = course_lib.evaluate("franka_reach", r.checkpoint, episodes=args.episodes, seed=0, device=device)
            rows.append({"part": "sparse vs dense", "reward": reward, "seed": seed, "num_envs": args.num_envs,
                         "iterations": r.iterations, "train_s": train_s,
                         "train_success_last50": reference_final_success(r.metrics, 50),
                         "eval_success": ev.success_rate, "eval_ci95": list(ev.ci95)})
            print(rows[-1], flush=True)
        rand = collision_eval(lambda obs: 2 * torch.rand(obs.shape[0], 7, device=obs.device) - 1, args.episodes,
                              device)
        rows.append({"part": "collision penalty", "reward": "random policy", "seed": seed, **rand})
        for label, overrides in (("improved, with collision penalty", {}),
                                 ("improved, without collision penalty", NO_PENALTY)):
            t0 = time.perf_counter()
            r = course_lib.train("franka_reach", config, num_envs=args.num_envs, iterations=args.improved_iterations,
                                 device=device, seed=seed, name=f"improved_{len(overrides)}_{seed}", runs_dir=runs_dir,
                                 reward="improved", progress=False, print_interval=max(1, args.improved_iterations),
                                 **overrides)
            train_s = time.perf_counter() - t0
            rows.append({"part": "collision penalty", "reward": label, "seed": seed, "num_envs": args.num_envs,
                         "iterations": r.iterations, "train_s": train_s,
                         **collision_eval(r.checkpoint, args.episodes, device)})
            print(rows[-1], flush=True)
    machine = {"host": platform.node(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
               "device": device, "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None,
               "threads": args.threads, "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat()}
    return {"machine": machine, "args": vars(args), "rows": rows}


def table(result) -> str:
    out = ["| part | reward | seed | envs | iters | train s | success, training (last 50 it.) | success, evaluation "
           "(95% CI) | collisions / episode |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        tr = r.get("train_success_last50")
        ev = r.get("eval_success", r.get("success"))
        ci = r.get("eval_ci95", r.get("ci95"))
        col = r.get("collisions_per_episode")
        trained = (f"{r.get('num_envs', '-')} | {r.get('iterations', '-')} | {r['train_s']:.0f}" if "train_s" in r
                   else "- | - | -")
        out.append(f"| {r['part']} | {r['reward']} | {r['seed']} | {trained} | "
                   f"{'-' if tr is None else f'{100 * tr:.1f}%'} | {100 * ev:.1f}% ({100 * ci[0]:.1f}-"
                   f"{100 * ci[1]:.1f}) | {'-' if col is None else f'{col:.3f}'} |")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda when there is one)")
    p.add_argument("--num-envs", type=int, default=None, help="default: the notebook's (512 on the CPU, 4096 on CUDA)")
    p.add_argument("--iterations", type=int, default=200, help="sparse and dense (the chapter's 200)")
    p.add_argument("--improved-iterations", type=int, default=60, help="with / without the collision penalty")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--episodes", type=int, default=200, help="evaluation episodes per policy")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared 2-core machine)")
    p.add_argument("--quick", action="store_true", help="a smoke test: 2 iterations, 8 environments, 8 episodes")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    device = resolve_device(a.device)
    if a.quick:
        a.num_envs, a.iterations, a.improved_iterations, a.episodes = 8, 2, 2, 8
    if a.num_envs is None:
        a.num_envs = 4096 if device.startswith("cuda") else 512
    result = run(a)
    print(table(result))
    out = a.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "out",
                                f"reward_shaping_{'quick_' if a.quick else ''}{device.split(':')[0]}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
