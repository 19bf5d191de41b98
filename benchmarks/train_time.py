"""Time to train: each task from scratch, evaluated on 1000 fixed episodes at fixed intervals.

Run from the repository root:

    python benchmarks/train_time.py                        # both tasks, this machine's device
    python benchmarks/train_time.py --tasks cartpole --quick
    python benchmarks/train_time.py --device cuda --out benchmarks/out/train_time_h100.json
    python benchmarks/train_time.py --tasks franka_reach --set ppo.learning_rate=0.0005 --set num_envs=1024

What is measured, per task:

- ``course_lib.train`` with the packaged config (``configs/<task>.yaml``) and
  the device's defaults (on the CPU: ``CPU_PROFILES`` in course_lib/rl/config.py);
- every ``--eval-every`` iterations, ``course_lib.evaluate`` of the current
  deterministic policy on ``--episodes`` fixed episodes (seed ``--eval-seed``).
  The training clock stops while evaluating: "time to X %" is training time
  (environment creation, rl-games set-up, rollouts and updates) up to the
  first evaluation at or above X %. It is an upper bound, to within one
  evaluation interval;
- "from launch": the same, plus the script's start-up (Python imports,
  torch, CUDA initialisation), counted once per task as if each task ran
  alone (``start_from_launch_s`` in the JSON);
- FPS: environment steps per second across all environments over the whole
  run (rollouts and PPO updates), and the split between the time inside the
  task's ``step`` (simulation, rewards, resets) and rl-games' PPO update.

Prints a table and writes JSON (default ``benchmarks/out/train_time_<gpu-or-host>.json``).
"""
from __future__ import annotations

import time

T_LAUNCH = time.perf_counter()

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

if __package__ in (None, ""):  # `python benchmarks/train_time.py`: make the repo root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import course_lib  # noqa: E402
from course_lib.rl.config import load_config  # noqa: E402
from course_lib.rl.trainer import resolve_device  # noqa: E402

THRESHOLDS = {"cartpole": (0.5, 0.8, 0.9, 0.95), "franka_reach": (0.5, 0.8, 0.9)}
#: the course's targets: (success, seconds) per device kind
TARGETS = {
    ("cartpole", "cpu"): (0.95, 60.0),
    ("franka_reach", "cpu"): (0.80, 300.0),
    ("franka_reach", "cuda"): (0.90, 60.0),
}
EVAL_EVERY = {"cartpole": 5, "franka_reach": 20}  # iterations between evaluations (default)
EPISODES = 1000
EVAL_SEED = 12345


def _set(d: dict, dotted: str, value):
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


def _machine(device: str) -> dict:
    info = {"hostname": socket.gethostname(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "device": device, "torch_threads": torch.get_num_threads(),
            "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    try:
        info["cpu_model"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                                 if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                            text=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except OSError:
        pass
    return info


def run_task(task: str, args, device: str, runs_dir: str, launch_s: float) -> dict:
    cfg = load_config(args.config.get(task) if args.config else None, task=task).to_dict()
    for item in args.set or []:
        key, _, val = item.partition("=")
        import yaml

        _set(cfg, key, yaml.safe_load(val))
    every = args.eval_every or EVAL_EVERY[task]
    thresholds = THRESHOLDS[task]
    evals, reached = [], {}
    # The evaluation environment is built before the clock starts (not part of training).
    eval_env = course_lib.make(task, num_envs=min(args.episodes, 1024), seed=args.eval_seed, device=device)
    t_start_from_launch = launch_s  # the script's start-up (imports), as if this task ran alone

    def callback(obs, it):
        if it % every and it < obs.algo.max_epochs:
            return
        t_train = obs.wall_time
        r = course_lib.evaluate(eval_env, obs.policy(device=device), episodes=args.episodes, seed=args.eval_seed)
        e = {"iteration": it, "env_steps": it * obs.steps_per_iter, "train_s": round(t_train, 3),
             "success_rate": r.success_rate, "ci95": [round(c, 4) for c in r.ci95],
             "mean_reward": round(r.mean_reward, 4), "mean_length": round(r.mean_length, 2)}
        evals.append(e)
        for thr in thresholds:
            if thr not in reached and r.success_rate >= thr:
                reached[thr] = e
        print(f"  [eval] iteration {it}: success {100 * r.success_rate:.1f}% "
              f"(95% CI {100 * r.ci95[0]:.1f}-{100 * r.ci95[1]:.1f}%) after {t_train:.1f} s of training",
              flush=True)
        if args.stop_at and r.success_rate >= args.stop_at:
            obs.stop()
        if args.max_time and t_train > args.max_time:
            print(f"  [stop] {t_train:.0f} s > --max-time {args.max_time:.0f} s", flush=True)
            obs.stop()

    t0 = time.perf_counter()
    result = course_lib.train(task, cfg, num_envs=args.num_envs, iterations=args.iterations, device=device,
                              seed=args.seed, runs_dir=runs_dir, callback=callback, progress=False,
                              print_interval=args.print_interval)
    total_wall = time.perf_counter() - t0
    timing = result.timing
    train_s = timing[-1]["wall_time_s"] if timing else float("nan")
    env_s = sum(t["env_step_s"] or 0.0 for t in timing)
    upd_s = sum(t["update_s"] or 0.0 for t in timing)
    steps = result.env_steps
    final = evals[-1] if evals else None
    fpss = sorted(t["fps"] for t in timing[len(timing) // 10:] if t["fps"])
    fps_steady = fpss[len(fpss) // 2] if fpss else None
    target = TARGETS.get((task, "cuda" if device.startswith("cuda") else "cpu"))
    out = {
        "task": task, "device": device, "num_envs": result.config.num_envs,
        "iterations": result.iterations, "horizon_length": result.config.ppo["horizon_length"],
        "minibatch_size": result.config.ppo["minibatch_size"], "env_steps": steps,
        "train_s": round(train_s, 3), "wall_s_with_evals": round(total_wall, 3),
        "start_from_launch_s": round(t_start_from_launch, 3),
        "fps": round(steps / train_s, 1) if train_s else None,
        "fps_steady": round(fps_steady, 1) if fps_steady else None,
        "env_step_s": round(env_s, 3), "update_s": round(upd_s, 3),
        "other_s": round(train_s - env_s - upd_s, 3),
        "env_only_fps": round(steps / env_s, 1) if env_s else None,
        "time_to": {f"{int(100 * t)}%": (reached[t]["train_s"] if t in reached else None) for t in thresholds},
        "time_to_from_launch": {f"{int(100 * t)}%": (round(reached[t]["train_s"] + t_start_from_launch, 3)
                                                     if t in reached else None) for t in thresholds},
        "final_success_rate": final["success_rate"] if final else None,
        "final_ci95": final["ci95"] if final else None,
        "evals": evals, "run_dir": result.run_dir, "changes": [list(map(str, c)) for c in result.changes],
        "config": result.config.to_dict(),
    }
    if target:
        thr, budget = target
        t = reached.get(thr)
        from_launch = t["train_s"] + t_start_from_launch if t else None
        out["target"] = {"success": thr, "seconds": budget, "met": bool(t and from_launch <= budget),
                         "time_from_launch_s": round(from_launch, 3) if t else None}
    return out


def table(rows) -> str:
    head = ["task", "device", "envs", "iters", "env steps", "train s", "FPS (steady)", "env-step s", "update s",
            "time to thresholds (s)", "final success (95% CI)", "target (from launch)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        tt = ", ".join(f"{k}: {v:.0f}" if v is not None else f"{k}: -" for k, v in r["time_to"].items())
        fs = (f"{100 * r['final_success_rate']:.1f}% ({100 * r['final_ci95'][0]:.1f}-{100 * r['final_ci95'][1]:.1f})"
              if r["final_success_rate"] is not None else "-")
        tg = r.get("target")
        tgs = (f"{int(100 * tg['success'])}% in {tg['seconds']:.0f} s: "
               + (f"met ({tg['time_from_launch_s']:.0f} s)" if tg["met"] else "NOT met") if tg else "-")
        lines.append("| " + " | ".join([r["task"], r["device"], str(r["num_envs"]), str(r["iterations"]),
                                         str(r["env_steps"]), f"{r['train_s']:.1f}",
                                         f"{r['fps']:.0f} ({r['fps_steady'] or 0:.0f})",
                                         f"{r['env_step_s']:.1f}", f"{r['update_s']:.1f}", tt, fs, tgs]) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", choices=sorted(THRESHOLDS), default=["cartpole", "franka_reach"])
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--num-envs", type=int, help="override the environment count (default: the config's / CPU default)")
    p.add_argument("--iterations", type=int, help="override the iteration count")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config key, e.g. ppo.learning_rate=0.0005 (repeatable)")
    p.add_argument("--config", action="append", metavar="TASK=FILE", help="a config file for a task")
    p.add_argument("--episodes", type=int, default=EPISODES, help=f"evaluation episodes (default {EPISODES})")
    p.add_argument("--eval-seed", type=int, default=EVAL_SEED)
    p.add_argument("--eval-every", type=int, help=f"iterations between evaluations (default {EVAL_EVERY})")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--stop-at", type=float, help="stop a task once an evaluation reaches this success rate")
    p.add_argument("--max-time", type=float, help="stop a task after this many seconds of training")
    p.add_argument("--print-interval", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="smoke run: few iterations, 100 episodes")
    p.add_argument("--runs-dir", default=None, help="where the runs go (default: a temporary directory)")
    p.add_argument("--out", help="JSON output (default benchmarks/out/train_time_<gpu-or-hostname>.json)")
    args = p.parse_args(argv)
    args.config = dict(c.split("=", 1) for c in args.config) if args.config else None
    if args.quick:
        args.iterations = args.iterations or 4
        args.episodes = min(args.episodes, 100)
        args.eval_every = args.eval_every or 2
        args.num_envs = args.num_envs or 64
    device = resolve_device(args.device)
    machine = _machine(device)
    runs_dir = args.runs_dir or tempfile.mkdtemp(prefix="train_time_")
    rows = []
    launch_s = time.perf_counter() - T_LAUNCH  # imports and set-up before any training
    for task in args.tasks:
        print(f"== {task} on {device}", flush=True)
        rows.append(run_task(task, args, device, runs_dir, launch_s))
    machine["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    print()
    print(table(rows))
    tag = machine.get("gpu", machine["hostname"]).replace(" ", "_").lower() if device.startswith("cuda") else machine["hostname"]
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", f"train_time_{tag}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"machine": machine, "args": {k: v for k, v in vars(args).items()}, "rows": rows,
                   "table": table(rows)}, f, indent=1)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
