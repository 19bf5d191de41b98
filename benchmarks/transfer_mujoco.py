"""Sim-to-sim transfer: reach policies trained in the course's simulator, deployed to MuJoCo.

Run from the repository root:

    python benchmarks/transfer_mujoco.py                           # trains both policies, 1000 episodes
    python benchmarks/transfer_mujoco.py --quick                   # smoke run: 20 iterations, 50 episodes
    python benchmarks/transfer_mujoco.py --nominal runs/a --randomized runs/b   # reuse trained policies

What is measured:

1. two reach policies, trained with ``course_lib.train("franka_reach",
   device, iterations, seed)``: *nominal* (the task as is) and *randomized*
   (chapter 5's ``CHAPTER_RANDOMIZATION``: masses 0.8-1.2, joint friction
   and damping, observation noise), unless ``--nominal`` / ``--randomized``
   give checkpoints;
2. each exported to ONNX and TorchScript (``course_lib.rl.export``), the
   round trip checked on 4096 random observations (max |action difference|);
3. on the same ``--episodes`` fixed episodes (seed ``--seed``): success
   rate (95 % Wilson interval) and median time to reach in the course's
   simulator (``course_lib.evaluate``) and in MuJoCo (``course_lib.deploy``,
   the ONNX file run by onnxruntime), nominal MuJoCo and each gap of
   ``GAPS``;
4. inference latency per control step (batch 1, one thread): torch eager,
   TorchScript, ONNX Runtime; median and 99th percentile.

Prints the tables and writes JSON (default ``benchmarks/out/transfer_mujoco_<host>.json``).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time

if __package__ in (None, ""):  # `python benchmarks/transfer_mujoco.py`: make the repo root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import torch

import course_lib
from course_lib.deploy import TRANSFER_GAPS, deploy, inference_latency, reach_episodes, time_to_reach
from course_lib.envs.randomization import CHAPTER_RANDOMIZATION
from course_lib.rl.export import export_onnx, export_torchscript, load_exported

#: MuJoCo conditions: name -> gap options of course_lib.deploy.deploy (the chapter 6 notebook shows the same)
GAPS = TRANSFER_GAPS


def train_policy(kind: str, args) -> str:
    overrides = {"randomize": True, "randomization_params": CHAPTER_RANDOMIZATION} if kind == "randomized" else {}
    t0 = time.perf_counter()
    r = course_lib.train("franka_reach", device=args.device, iterations=args.iterations, seed=args.train_seed,
                         runs_dir=args.runs_dir, name=f"transfer_{kind}_{datetime.datetime.now():%Y%m%d-%H%M%S}",
                         progress=False, out=open(os.devnull, "w"), **overrides)
    print(f"trained {kind}: {r.checkpoint} in {time.perf_counter() - t0:.0f} s", flush=True)
    return r.checkpoint


def row(name: str, successes, lengths, control_dt: float, wall: float) -> dict:
    from course_lib.rl.evaluate import success_ci

    n, s = len(successes), int(sum(successes))
    med, mean = time_to_reach(lengths, successes, control_dt)
    return {"condition": name, "episodes": n, "success_rate": s / n, "ci95": list(success_ci(s, n)),
            "median_time_to_reach_s": med, "mean_time_to_reach_s": mean, "mean_length": float(np.mean(lengths)),
            "wall_s": wall}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0, help="seed of the fixed episodes")
    p.add_argument("--iterations", type=int, default=200, help="training iterations per policy")
    p.add_argument("--train-seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="training device (evaluation and deployment: CPU)")
    p.add_argument("--nominal", help="checkpoint / run folder of a nominal policy (skips its training)")
    p.add_argument("--randomized", help="checkpoint / run folder of a randomized policy (skips its training)")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--latency-calls", type=int, default=5000)
    p.add_argument("--threads", type=int, default=1, help="torch / onnxruntime threads")
    p.add_argument("--quick", action="store_true", help="20 iterations, 50 episodes, 500 latency calls")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.iterations, args.episodes, args.latency_calls = 20, 50, 500
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    ckpts = {"nominal": args.nominal or train_policy("nominal", args),
             "randomized": args.randomized or train_policy("randomized", args)}
    episode_set = reach_episodes(args.episodes, args.seed)
    export_dir = os.path.join(args.runs_dir, "transfer_exports")
    os.makedirs(export_dir, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    probe = torch.randn(4096, 17, generator=g) * torch.tensor([1.0] * 7 + [2.0] * 7 + [0.4] * 3)
    results, exports, latency = {}, {}, {}
    for kind, ck in ckpts.items():
        policy = course_lib.load_policy(ck, task="franka_reach")
        onnx_path = export_onnx(policy, os.path.join(export_dir, f"{kind}.onnx"))
        ts_path = export_torchscript(policy, os.path.join(export_dir, f"{kind}.pt"))
        onnx_policy, ts_policy = load_exported(onnx_path, threads=args.threads), load_exported(ts_path)
        want = policy(probe).numpy()
        exports[kind] = {"checkpoint": ck, "onnx": onnx_path, "torchscript": ts_path,
                         "max_abs_diff_onnx": float(np.abs(onnx_policy(probe) - want).max()),
                         "max_abs_diff_torchscript": float(np.abs(ts_policy(probe) - want).max())}
        rows = []
        t0 = time.perf_counter()
        ev = course_lib.evaluate("franka_reach", policy, episodes=args.episodes, seed=args.seed)
        rows.append(row("course simulator", ev.successes, ev.lengths, 1 / 60, time.perf_counter() - t0))
        for name, gap in GAPS.items():
            r = deploy(onnx_policy, args.episodes, args.seed, episode_set=episode_set, **gap)
            rows.append(dict(row(name, r.successes, r.lengths, r.control_dt, r.wall_s), gap=r.gap))
            print(f"  {kind:10s} {name:34s} {100 * r.success_rate:5.1f}%  ({r.wall_s:.1f} s)", flush=True)
        results[kind] = rows
        if kind == "nominal":
            latency = inference_latency({"torch (eager)": policy, "TorchScript": ts_policy, "ONNX Runtime": onnx_policy},
                                        calls=args.latency_calls)

    print(f"\nTransfer: success % (95% CI) and median time to reach (s), {args.episodes} fixed episodes, seed {args.seed}")
    header = f"| condition | {' | '.join(results)} |"
    print(header + "\n|---|" + "---|" * len(results))
    for i, cond in enumerate(r["condition"] for r in results["nominal"]):
        cells = []
        for kind in results:
            x = results[kind][i]
            cells.append(f"{100 * x['success_rate']:.1f} ({100 * x['ci95'][0]:.1f}-{100 * x['ci95'][1]:.1f}), "
                         f"{x['median_time_to_reach_s']:.2f} s")
        print(f"| {cond} | {' | '.join(cells)} |")
    print("\nInference latency per control step (batch 1, "
          f"{args.threads} thread{'s' if args.threads > 1 else ''}, {args.latency_calls} calls)")
    print("| runtime | median (us) | p99 (us) |\n|---|---|---|")
    for name, v in latency.items():
        print(f"| {name} | {v['median_us']:.1f} | {v['p99_us']:.1f} |")
    print("\nExport round trip (max |action difference| on 4096 random observations): " + ", ".join(
        f"{k}: ONNX {v['max_abs_diff_onnx']:.1e}, TorchScript {v['max_abs_diff_torchscript']:.1e}" for k, v in exports.items()))

    import mujoco
    import onnxruntime

    machine = {"host": platform.node(), "cpu_count": os.cpu_count(), "processor": platform.processor(),
               "torch": torch.__version__, "mujoco": mujoco.__version__, "onnxruntime": onnxruntime.__version__,
               "python": platform.python_version(), "threads": args.threads,
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat()}
    out = {"args": vars(args), "machine": machine, "gaps": {k: {kk: list(vv) if isinstance(vv, tuple) else vv
                                                                for kk, vv in g.items()} for k, g in GAPS.items()},
           "results": results, "latency": latency, "exports": exports,
           "total_s": time.perf_counter() - t_start}
    path = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "out",
                                    f"transfer_mujoco_{platform.node()}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"\nwrote {path} ({out['total_s']:.0f} s in all)")
    return out


if __name__ == "__main__":
    main()
