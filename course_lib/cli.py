"""The ``course`` command: train, play, evaluate and benchmark the course's tasks.

    course train cartpole                       # configs/cartpole.yaml, CPU defaults on a CPU
    course train franka_reach --device cuda --seed 1
    course train franka_reach --gpus 4         # 4 GPUs of this machine (torchrun); num_envs is the total
    course eval runs/franka_reach_20260101-120000 --episodes 1000
    course play runs/cartpole_20260101-120000
    course bench --quick
    course grade ... / course check NOTEBOOK   # grading (course_lib.grading.cli)

Exit status: 0 on success, 2 with a one-line message on bad arguments (an
unknown task, a missing or incompatible checkpoint, a bad config file), 1 on
an unexpected error (with its traceback), 130 when interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

__all__ = ["main", "build_parser"]


class UsageError(Exception):
    """A bad argument: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints the usage too: one line is enough
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _int_at_least(low: int, what: str):
    """An argparse ``type``: an integer >= ``low``, else "expected {what}, got '...'"."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return v

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_nonneg_int = _int_at_least(0, "an integer >= 0")


def _tasks() -> list:
    from .envs import tasks

    return sorted(tasks())


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="course", description="Train, evaluate and benchmark the course's robot-learning tasks "
                "(PPO with rl-games on course_lib's GPU-parallel simulator).",
                epilog="Run `course COMMAND --help` for a command's options.")
    from ._version import __version__

    p.add_argument("--version", action="version", version=f"course_lib {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train a task with PPO (rl-games)",
                       description="Train TASK with PPO through rl-games, as the chapter's Step 3. Prints "
                       "'Iteration: i/n  Mean Reward  Success Rate  FPS' lines and writes runs/<name>/ "
                       "(configs, checkpoints in nn/, TensorBoard summaries, metrics.csv, training_curves.png).")
    t.add_argument("task", metavar="TASK", help=f"task name: {', '.join(_tasks())}")
    t.add_argument("--config", metavar="FILE", help="training YAML in the chapter's format "
                   "(default: the packaged configs/TASK.yaml)")
    t.add_argument("--num-envs", type=_positive_int, metavar="N", help="parallel environments (overrides the file)")
    t.add_argument("--iterations", type=_positive_int, metavar="N", help="training iterations (overrides the file)")
    t.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when a GPU is present, else cpu")
    t.add_argument("--gpus", type=_positive_int, metavar="N",
                   help="train on N GPUs of this machine: N processes started by torchrun (rl-games' multi_gpu), "
                   "process r on cuda:r with seed SEED+r; --num-envs / the file's num_envs is the total, split "
                   "evenly. With --device cpu: N CPU processes (gloo), to test the code path")
    t.add_argument("--stop-at-success", type=float, metavar="RATE",
                   help="end early once RATE (e.g. 0.95) or more of the episodes that ended in the last "
                   "--stop-window iterations were successes; --iterations stays the most it trains")
    t.add_argument("--stop-window", type=_positive_int, metavar="N",
                   help="iterations the success rate must hold for --stop-at-success (default: one episode's "
                   "time limit, 32 iterations for the course's tasks)")
    t.add_argument("--seed", type=_nonneg_int, default=0, metavar="S", help="random seed (default 0)")
    t.add_argument("--name", metavar="NAME", help="run name (default TASK_<date>-<time>)")
    t.add_argument("--runs-dir", default="runs", metavar="DIR", help="where runs go (default ./runs)")
    t.add_argument("--print-interval", type=_positive_int, metavar="N",
                   help="iterations between progress lines (default: a tenth of the run)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--verbose", action="store_true", help="show rl-games' own messages")

    for name, help_, desc, episodes in (
            ("eval", "evaluate a trained policy on fixed, seeded episodes",
             "Evaluate the deterministic policy of a run (its nn/last.pth) or a checkpoint on a fixed, seeded "
             "set of episodes of the reference task; prints the success rate with its 95% Wilson interval, "
             "the mean episode reward and length.", 1000),
            ("play", "run a trained policy and print each episode's outcome (headless)",
             "Run the deterministic policy of a run or checkpoint for a few episodes, headless, and print "
             "each episode's outcome.", 10)):
        e = sub.add_parser(name, help=help_, description=desc)
        e.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT", help="a run directory (runs/<name>) or a .pth file")
        e.add_argument("--episodes", type=_positive_int, default=episodes, metavar="N",
                       help=f"episodes (default {episodes})")
        e.add_argument("--seed", type=_nonneg_int, default=0, metavar="S", help="seed of the episode set (default 0)")
        e.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="default cpu")
        e.add_argument("--json", action="store_true", help="print the result as JSON")

    # The instructor's and the student's grading commands live in course_lib.grading.cli; main() hands
    # them over before parsing. Listed here for `course --help`.
    sub.add_parser("grade", help="the instructor's nbgrader workflow (course grade --help)", add_help=False)
    sub.add_parser("check", help="run a chapter notebook and grade it as the autograder would", add_help=False)

    b = sub.add_parser("bench", help="run the benchmarks (simulator throughput, time to train)",
                       description="Run benchmarks/sim_throughput.py (simulator vs MuJoCo) and "
                       "benchmarks/train_time.py (time to reach the success targets). Needs the course's "
                       "repository (the benchmarks/ folder).")
    b.add_argument("--quick", action="store_true", help="smoke runs of a few seconds each")
    b.add_argument("--only", choices=["sim", "train"], help="run one of the two")
    b.add_argument("--device", choices=["cpu", "cuda"], help="device for the training benchmark")
    return p


# --------------------------------------------------------------------- commands
def _cmd_train(a, out) -> int:
    from .rl import ConfigError
    from .rl.distributed import MultiGPUError
    from .rl.trainer import train

    if a.task not in _tasks():
        raise UsageError(f"course train: unknown task {a.task!r}; available tasks: {', '.join(_tasks())}")
    _check_device(a)
    if a.config is not None and not os.path.exists(a.config):
        raise UsageError(f"course train: config file not found: {a.config}")
    if a.stop_window is not None and a.stop_at_success is None:
        raise UsageError("course train: --stop-window is the window of --stop-at-success: give --stop-at-success "
                         "RATE too (e.g. --stop-at-success 0.95)")
    if a.stop_at_success is not None:  # checked here, so that a ValueError from training itself stays a traceback
        from .rl.observer import StopRule

        try:
            StopRule(a.stop_at_success, a.stop_window)
        except ValueError as e:
            raise UsageError(f"course train: {e}") from None
    try:
        r = train(a.task, a.config, num_envs=a.num_envs, iterations=a.iterations, device=a.device, seed=a.seed,
                  name=a.name, runs_dir=a.runs_dir, print_interval=a.print_interval,
                  progress=False if a.no_progress else None, verbose=a.verbose, out=out, gpus=a.gpus,
                  stop_at_success=a.stop_at_success, stop_window=a.stop_window)
    except (ConfigError, MultiGPUError) as e:
        raise UsageError(f"course train: {e}") from None
    print(f"Evaluate it with: course eval {r.run_dir}", file=out)
    return 130 if r.interrupted else 0


def _load(a):
    from .rl import CheckpointError, load_policy

    try:
        return load_policy(a.checkpoint, device=a.device)
    except (FileNotFoundError, CheckpointError) as e:
        raise UsageError(f"course {a.command}: {e}") from None


def _check_device(a):
    import torch

    if a.device == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"course {a.command}: --device cuda but this machine has no CUDA GPU")
    elif a.command in ("eval", "play"):
        from .rl.config import cpu_threads

        torch.set_num_threads(cpu_threads())  # as training does: oversubscribed threads are slow


def _cmd_eval(a, out) -> int:
    from .rl import evaluate

    _check_device(a)
    policy = _load(a)
    r = evaluate(policy.task, policy, episodes=a.episodes, seed=a.seed, device=a.device)
    if a.json:
        print(json.dumps({**r.to_dict(), "checkpoint": policy.metadata.get("checkpoint")}), file=out)
    else:
        print(f"Checkpoint: {policy.metadata.get('checkpoint')} (iteration {policy.metadata.get('iteration')})",
              file=out)
        print(str(r), file=out)
    return 0


def _cmd_play(a, out) -> int:
    from .rl import evaluate

    _check_device(a)
    policy = _load(a)
    r = evaluate(policy.task, policy, episodes=a.episodes, seed=a.seed, device=a.device)
    if a.json:
        print(json.dumps(r.to_dict()), file=out)
        return 0
    print(f"{policy.task}: {a.episodes} episodes of {policy.metadata.get('checkpoint')} (deterministic, headless)",
          file=out)
    for i, (s, ret, n) in enumerate(zip(r.successes, r.rewards, r.lengths), 1):
        print(f"episode {i:3d}: {'success' if s else 'failure'}  reward {ret:9.3f}  length {n:4d} steps", file=out)
    print(str(r), file=out)
    return 0


def _repo_root():
    """The repository that holds benchmarks/ (the working directory, or course_lib's parent)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for root in (os.getcwd(), here):
        if os.path.isfile(os.path.join(root, "benchmarks", "train_time.py")):
            return root
    return None


def _cmd_bench(a, out) -> int:
    root = _repo_root()
    if root is None:
        raise UsageError("course bench: the benchmarks/ folder was not found; run it from the course's "
                         "repository (a clone of it, installed with `pip install -e .`)")
    jobs = []
    if a.only in (None, "sim"):
        if not os.path.isfile(os.path.join(root, "benchmarks", "sim_throughput.py")):
            raise UsageError(f"course bench: {os.path.join(root, 'benchmarks', 'sim_throughput.py')} does not "
                             f"exist yet; run `course bench --only train`")
        jobs.append([sys.executable, "-m", "benchmarks.sim_throughput"] + (["--quick"] if a.quick else []))
    if a.only in (None, "train"):
        cmd = [sys.executable, "-m", "benchmarks.train_time"] + (["--quick"] if a.quick else [])
        if a.device:
            cmd += ["--device", a.device]
        jobs.append(cmd)
    for cmd in jobs:
        print("$ " + " ".join(["python"] + cmd[1:]), file=out, flush=True)
        rc = subprocess.call(cmd, cwd=root)
        if rc != 0:
            print(f"course bench: {' '.join(cmd[1:])} failed with exit status {rc}", file=sys.stderr)
            return rc
    return 0


COMMANDS = {"train": _cmd_train, "eval": _cmd_eval, "play": _cmd_play, "bench": _cmd_bench}


def main(argv=None) -> int:
    out = sys.stdout
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["grade"], ["check"]):
        from .grading.cli import main as grading_main

        return grading_main(argv)
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args, out)
    except UsageError as e:
        print(str(e).splitlines()[0] if str(e) else "course: bad arguments", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("course: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
