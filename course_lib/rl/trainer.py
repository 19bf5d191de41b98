"""``course_lib.train``: the chapter's Steps 2 and 3 on the course's tasks, through rl-games' ``Runner``.

    >>> import course_lib
    >>> result = course_lib.train("cartpole")                  # configs/cartpole.yaml, CPU defaults
    Iteration: 10/100  Mean Reward: 35.12  Success Rate: n/a  FPS: 41000
      (Success Rate: counted from iteration 32, the first in which an episode can reach the 500-step time limit; ...)
    ...
    >>> result.run_dir, result.checkpoint
    ('runs/cartpole_20260101-120000', 'runs/cartpole_20260101-120000/nn/last.pth')

A run writes ``runs/<name>/``: ``config.yaml`` (the chapter's format, as
resolved), ``rl_games.yaml`` (the parameters rl-games got), ``nn/`` (rl-games'
checkpoints, plus ``last.pth``: the final policy), ``summaries/``
(TensorBoard), ``metrics.csv``, ``timing.csv``, ``training_curves.png`` and
``rl_games.log`` (rl-games' own messages, kept out of the notebook).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import io
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import yaml

from .config import ConfigError, TrainConfig, _rescale_minibatch, apply_device_defaults, load_config, to_rlgames
from .policy import CHECKPOINT_FORMAT, Policy

__all__ = ["train", "TrainResult", "resolve_device"]

# rl-games' chatter on stdout: routed to runs/<name>/rl_games.log instead of the notebook.
_NOISE = re.compile(
    r"^(self\.seed = |RunningMeanStd: |seq_length: |current training device: |build mlp: |=> saving checkpoint|"
    r"=> loading checkpoint|saving next best rewards: |MAX EPOCHS NUM!|MAX FRAMES NUM!|torch\.compile: |"
    r"Started to (train|play)|fps step: |Exact experiment name requested|\{'observation_space'|"
    r"WARNING: Max (epochs|frames) reached before|\[BasePlayer\]|conv_name: |Adding Central Value|"
    r"global_rank = |====================broadcast)")


class _FilteredStdout(io.TextIOBase):
    """Line filter in front of stdout: rl-games' known messages go to a log file, all else passes."""

    def __init__(self, target, log):
        self.target, self.log, self.buf = target, log, ""

    def write(self, s):
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            (self.log if _NOISE.match(line) else self.target).write(line + "\n")
        return len(s)

    def flush(self):
        if self.buf and not _NOISE.match(self.buf):
            self.target.write(self.buf)
            self.buf = ""
        self.target.flush()
        self.log.flush()

    def isatty(self):
        return getattr(self.target, "isatty", lambda: False)()


def resolve_device(device=None) -> str:
    """``None`` -> ``"cuda"`` when a GPU is there, else ``"cpu"``; checks that CUDA exists when asked for."""
    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but this machine has no CUDA GPU; use device='cpu'")
    if not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return device


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _jsonable(x):
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        x = dataclasses.asdict(x)
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.generic,)):
        return x.item()
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    if callable(x):  # a reward function of one's own (FrankaReachCfg.reward=sparse_reward): its name
        return getattr(x, "__name__", str(x))
    return str(x)


def _unique_run_dir(runs_dir: str, name: str) -> tuple[str, str]:
    base, i = name, 1
    while os.path.exists(os.path.join(runs_dir, name)):
        name = f"{base}_{i}"
        i += 1
    return name, os.path.join(runs_dir, name)


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    task: str
    run_dir: str
    checkpoint: str
    iterations: int
    env_steps: int
    wall_time_s: float
    metrics: list = field(repr=False, default_factory=list)
    timing: list = field(repr=False, default_factory=list)
    changes: list = field(repr=False, default_factory=list)
    config: TrainConfig | None = field(repr=False, default=None)
    rl_games: dict | None = field(repr=False, default=None)
    interrupted: bool = False
    #: processes that trained (``gpus``; 1 for a run in this process)
    world_size: int = 1
    #: training ended before ``iterations`` because the success rate held (``stop_at_success``)
    stopped_early: bool = False

    def policy(self, device="cpu") -> Policy:
        """The final policy (``nn/last.pth``) as a :class:`Policy`."""
        from .policy import load_policy

        return load_policy(self.checkpoint, device=device)


def _make_agent_class():
    """rl-games' PPO agent, with course_lib's metadata in every checkpoint and timings for the observer.

    In a process of a multi-GPU run (``course_rank`` set) it also takes the process's rank: see ``__init__``."""
    from rl_games.algos_torch import a2c_continuous, torch_ext

    class CourseA2CAgent(a2c_continuous.A2CAgent):
        course_meta: dict = {}
        #: a course_lib.rl.distributed.RankInfo in a process of a multi-GPU run, else None
        course_rank = None

        def __init__(self, base_name, params):
            rank = self.course_rank
            if rank is None:
                super().__init__(base_name, params)
                return
            # Why not rl-games' own multi_gpu branch of A2CBase.__init__: rl-games 1.6.5 calls
            # dist.init_process_group("nccl", ...) there and moves the model to cuda:<LOCAL_RANK>. That cannot
            # run on the CPU with gloo (the course's test of this code path), and course_lib.rl.distributed has
            # already initialised the process group (a second init_process_group raises). So the agent is built
            # as for one process, then given what that branch sets: the ranks, no TensorBoard writer and no lr
            # schedule off rank 0 (rank 0's learning rate reaches the others through update_lr's broadcast).
            # Everything else multi_gpu does (parameter broadcast, gradient and KL all-reduce, the stop
            # broadcast) is rl-games' own code, switched on by self.multi_gpu.
            config = params["config"]
            config["multi_gpu"] = False
            if rank.rank != 0:
                config["print_stats"] = False
                config["lr_schedule"] = None
            try:
                super().__init__(base_name, params)
            finally:
                config["multi_gpu"] = True
            self.multi_gpu = True
            self.local_rank, self.global_rank, self.world_size = rank.local_rank, rank.rank, rank.world_size
            if rank.rank != 0 and self.writer is not None:
                self.writer.close()
                self.writer = None

        def train(self):
            if self.course_rank is not None and self.course_rank.kind == "cpu":
                # rl-games 1.6.5's train() calls torch.cuda.set_device(local_rank) when multi_gpu; the CPU
                # processes (gloo) have no GPU to select (a CPU build of torch has not even the call), so it
                # does nothing in this process while rl-games trains.
                set_device = torch.cuda.set_device
                torch.cuda.set_device = lambda device: None
                try:
                    return super().train()
                finally:
                    torch.cuda.set_device = set_device
            return super().train()

        def update_lr(self, lr):
            super().update_lr(lr)  # with multi_gpu: rank 0's learning rate, broadcast to every process
            if self.course_rank is not None:
                # rl-games 1.6.5 gives ranks > 0 no lr schedule (their self.last_lr never changes), and
                # train_actor_critic writes self.last_lr back into the optimizer after every minibatch: their
                # steps then used their stale rate instead of rank 0's, and their weights drifted from rank 0's
                # (seen in tests/test_multi_gpu.py's weights_sum). Keeping last_lr at the broadcast rate makes
                # every process take the same steps.
                self.last_lr = self.optimizer.param_groups[0]["lr"]

        def save(self, fn):
            state = self.get_full_state_weights()
            lmr = state.get("last_mean_rewards")
            state["last_mean_rewards"] = float(np.asarray(lmr).reshape(-1)[0]) if lmr is not None else None
            meta = copy.deepcopy(self.course_meta)
            meta.update({"iteration": int(self.epoch_num),
                         "env_steps": int(self.epoch_num * self.batch_size_envs * self.world_size)})
            state["course"] = meta
            torch_ext.save_checkpoint(fn, state)

        def write_stats(self, total_time, epoch_num, step_time, play_time, update_time, a_losses, c_losses,
                        entropies, kls, last_lr, lr_mul, *args, **kwargs):
            mean = lambda xs: float(torch_ext.mean_list(xs).item()) if len(xs) else None  # noqa: E731
            self._course_times = {"step_time": step_time, "play_time": play_time, "update_time": update_time}
            self._course_losses = {"a_loss": mean(a_losses), "c_loss": mean(c_losses), "entropy": mean(entropies),
                                   "kl": mean(kls), "lr": float(last_lr * lr_mul)}
            return super().write_stats(total_time, epoch_num, step_time, play_time, update_time, a_losses,
                                       c_losses, entropies, kls, last_lr, lr_mul, *args, **kwargs)

    return CourseA2CAgent


def _resolve_task(task_or_name, device):
    """-> (name, task_cls or None, env instance or None)."""
    from ..envs import VecEnvBase, task_class, tasks

    known = tasks()
    if isinstance(task_or_name, str):
        return task_or_name, task_class(task_or_name), None
    if isinstance(task_or_name, VecEnvBase):
        for name, cls in known.items():
            if type(task_or_name) is cls:
                return name, cls, task_or_name
        return type(task_or_name).__name__, type(task_or_name), task_or_name
    if isinstance(task_or_name, type) and issubclass(task_or_name, VecEnvBase):
        for name, cls in known.items():
            if task_or_name is cls:
                return name, cls, None
        return task_or_name.__name__, task_or_name, None
    raise ValueError(f"train(task, ...): task must be a task name {sorted(known)}, a VecEnvBase instance or "
                     f"subclass, got {task_or_name!r}")


def train(task="cartpole", config=None, *, num_envs: int | None = None, iterations: int | None = None,
          device=None, seed: int = 0, name: str | None = None, runs_dir: str = "runs",
          print_interval: int | None = None, progress=None, verbose: bool = False, callback=None,
          out=None, gpus: int | None = None, stop_at_success: float | None = None, stop_window: int | None = None,
          **task_overrides) -> TrainResult:
    """Train ``task`` with PPO (rl-games 1.6.5) as the chapter's Step 3 does, and return a :class:`TrainResult`.

    task: a registered name (``"cartpole"``, ``"franka_reach"``), a task
        instance (its ``num_envs`` and device are used as they are), or a
        ``VecEnvBase`` subclass (built with ``{"num_envs": ..., "seed": ...}``).
    config: the chapter's YAML (path or dict); None = the packaged
        ``configs/<task>.yaml``.
    num_envs, iterations: override the file (and the CPU defaults).
    device: ``"cpu"``, ``"cuda"`` or None (CUDA when there is one). On the
        CPU the environment count, iterations and minibatch shrink to the
        course's CPU budget and rl-games' torch.compile is off; the run
        prints every change.
    seed: seeds Python, NumPy, torch, rl-games and the task's generator;
        the same seed on the CPU writes the same ``metrics.csv``.
    print_interval: iterations between progress lines (default: a tenth of the run).
    progress: progress bar: None = where it can be drawn (terminal,
        notebook), True / False = always / never.
    verbose: let rl-games' own messages through (else they go to ``rl_games.log``).
    callback: ``callback(observer, iteration)`` after every iteration (its
        time is kept out of the clock); ``observer.algo`` is rl-games' agent.
    gpus: train on this many GPUs of this machine: one process per GPU,
        started by torchrun (rl-games' ``multi_gpu``), process ``r`` on
        ``cuda:r`` with seed ``seed + r``; ``num_envs`` is the total, split
        evenly. With ``device="cpu"`` the same processes run on the CPU
        (gloo backend): a test of the code path, not a speed-up. See
        :mod:`course_lib.rl.distributed`. None (default): this process, one device.
    stop_at_success, stop_window: end training early, after the iteration
        in which ``stop_at_success`` (e.g. 0.95) or more of the episodes that
        ended in the last ``stop_window`` iterations were successes (default
        window: one episode's time limit, so failures are counted too;
        :class:`~course_lib.rl.observer.StopRule`). ``iterations``
        stays the most it trains; the run says when and why it stopped
        (``TrainResult.stopped_early``). None (default): every iteration.
    task_overrides: fields of the task's config (e.g. ``reward="isaacgym"``).
    """
    from .observer import StopRule

    if stop_window is not None and stop_at_success is None:
        raise ValueError(f"stop_window={stop_window!r} is the window of stop_at_success, which is not set: pass "
                         f"stop_at_success (e.g. 0.95) too, or leave stop_window out")
    stop = StopRule(stop_at_success, stop_window) if stop_at_success is not None else None  # checked here, at once
    if gpus is not None:
        return _train_multi(task, config, gpus=gpus, num_envs=num_envs, iterations=iterations, device=device,
                           seed=seed, name=name, runs_dir=runs_dir, print_interval=print_interval,
                           progress=progress, verbose=verbose, callback=callback, out=out,
                           task_overrides=task_overrides, stop=stop)
    return _train_process(task, config, num_envs=num_envs, iterations=iterations, device=device, seed=seed,
                          name=name, runs_dir=runs_dir, print_interval=print_interval, progress=progress,
                          verbose=verbose, callback=callback, out=out, task_overrides=task_overrides, stop=stop)


def _train_multi(task, config, *, gpus, num_envs, iterations, device, seed, name, runs_dir, print_interval,
                 progress, verbose, callback, out, task_overrides, stop=None) -> TrainResult:
    """``train(..., gpus=N)``: check the request here, at once, then run N processes (course_lib.rl.distributed)."""
    from .distributed import MultiGPUError, check_gpus, importable_task, launch, split_envs

    n, kind, backend = check_gpus(gpus, device)
    if callback is not None:
        raise MultiGPUError("callback runs in the training process: it is not available with gpus "
                            "(the training runs in other processes)")
    task = importable_task(task)
    task_overrides = dict(task_overrides or {})
    tname, tcls, env = _resolve_task(task, kind)
    _, cfg, _ = _resolve_config(tname, tcls, env, config, kind, num_envs, iterations, task_overrides)
    split_envs(cfg.num_envs, n, kind)  # here, not in the processes
    spec = {"task": task, "config": config, "num_envs": num_envs, "iterations": iterations, "seed": seed,
            "name": name, "runs_dir": runs_dir, "print_interval": print_interval, "verbose": verbose,
            "task_overrides": task_overrides, "world_size": n, "backend": backend, "kind": kind,
            "stop": stop}  # rank 0 decides; rl-games broadcasts its should_exit to the other processes
    return launch(spec, out)


def _resolve_config(tname, tcls, env, config, device, num_envs, iterations, task_overrides):
    """-> (ref, cfg, changes): the training config as the run will use it on ``device`` (``num_envs`` the total)."""
    ref = tname if tname in _registered() else next(
        (n for n, c in _registered().items() if tcls is not None and c.__name__ == tcls.__name__), None)
    if config is None and ref is None:
        raise ConfigError(f"{tname} is not a registered task: give its training config (config=...)")
    cfg = load_config(config, task=tname if tname in _registered() else ref)
    if cfg.task is not None and cfg.task not in (tname, ref):
        raise ConfigError(f"{cfg.source} is a config for task {cfg.task!r}, not {tname!r}")
    explicit = {"num_envs": num_envs if env is None else env.num_envs, "num_iterations": iterations,
                "task_overrides": dict(task_overrides) if env is None else {"stepper_mode": None}}
    cfg, changes = apply_device_defaults(cfg, ref or tname, device, explicit)
    return ref, cfg, changes


def _train_process(task, config, *, num_envs, iterations, device, seed, name, runs_dir, print_interval,
                   progress, verbose, callback, out, task_overrides, rank=None, stop=None) -> TrainResult | None:
    """The training run of this process. ``rank``: None for a single-process run, else the
    :class:`~course_lib.rl.distributed.RankInfo` of this process of a multi-GPU run (started by torchrun, the
    process group already initialised): it trains ``num_envs / world_size`` environments with seed
    ``seed + rank``; rank 0 alone writes ``runs/<name>/`` and prints, and only rank 0 returns a result."""
    from rl_games.torch_runner import Runner

    from .._version import __version__
    from ..envs import VecEnvBase
    from .observer import CourseObserver, RankObserver
    from .vecenv import register_task

    task_overrides = dict(task_overrides or {})
    ws = rank.world_size if rank is not None else 1
    writes = rank is None or rank.rank == 0  # the process that writes the run directory and prints
    out = out if out is not None else sys.stdout
    if not writes:
        out = open(os.devnull, "w")
        progress, verbose = False, False
    tname, tcls, env = _resolve_task(task, device)
    if rank is not None and env is not None:
        raise ValueError("a multi-GPU run builds its environments in each process: give the task's name or class")
    device = resolve_device(str(env.device) if env is not None and device is None else device)
    ref, cfg, changes = _resolve_config(tname, tcls, env, config, device, num_envs, iterations, task_overrides)
    if env is not None and str(env.device) != str(torch.device(device)):
        raise ValueError(f"the task instance is on {env.device} but device={device!r}")
    base_seed = int(seed if seed is not None else (cfg.seed or 0))
    seed = base_seed + (rank.rank if rank is not None else 0)  # rank r: seed + r (rl-games' Runner does the same)
    total_envs = cfg.num_envs
    rank_cfg = cfg  # what this process trains: all of cfg, or its share of a multi-GPU run
    if rank is not None:
        from .distributed import split_envs

        per = split_envs(total_envs, ws, rank.kind)
        rank_cfg = copy.deepcopy(cfg)
        rank_cfg.num_envs = per
        rank_cfg.ppo["minibatch_size"] = _rescale_minibatch(cfg, total_envs, per)
        unit, units = ("GPU", "GPUs") if rank.kind == "cuda" else ("process", "processes")
        changes = changes + [
            (f"num_envs per {unit}", total_envs, per, f"num_envs is the total: split across {ws} {units}"),
            (f"ppo.minibatch_size per {unit}", cfg.ppo["minibatch_size"], rank_cfg.ppo["minibatch_size"],
             f"the same number of minibatches per rollout; rl-games averages the {ws} gradients")]

    threads = cfg.ppo.get("torch_threads")
    if isinstance(threads, int) and threads > 0:
        torch.set_num_threads(threads)
    _seed_everything(seed)

    # the task
    overrides = {**cfg.task_overrides, **task_overrides}
    if env is None:
        if tname in _registered():
            from ..envs import make

            cfg_cls_fields = _cfg_fields(tname)
            if "env_spacing" in cfg_cls_fields:
                overrides.setdefault("env_spacing", cfg.env_spacing)
            env = make(tname, device=device, num_envs=rank_cfg.num_envs, seed=seed, **overrides)
        else:
            env = tcls({"num_envs": rank_cfg.num_envs, "seed": seed, "env_spacing": cfg.env_spacing, **overrides},
                       sim_device=device, graphics_device_id=0, headless=True)
    elif overrides:
        raise ValueError(f"task overrides {sorted(overrides)} need a task name, not a task instance")
    else:
        env.seed(seed)
    if not isinstance(env, VecEnvBase):
        raise ValueError(f"{tname} did not build a VecEnvBase task")
    ranks = None
    if rank is not None:  # every process says what it runs; rank 0 records it (checkpoint, distributed.yaml)
        import torch.distributed as dist

        ranks = [None] * ws
        dist.all_gather_object(ranks, {"rank": rank.rank, "local_rank": rank.local_rank, "device": str(env.device),
                                       "num_envs": int(env.num_envs), "seed": seed, "pid": os.getpid()})

    # the run directory: rank > 0 gives rl-games a scratch directory of its own (rl-games 1.6.5 creates its
    # experiment folders in every process), removed at the end
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    if writes:
        run_name, run_dir = _unique_run_dir(runs_dir, name or f"{tname}_{stamp}")
        rl_runs_dir = runs_dir
    else:
        import tempfile

        rl_runs_dir = tempfile.mkdtemp(prefix=f"course_rank{rank.rank}_")
        run_name, run_dir = "rank", os.path.join(rl_runs_dir, "rank")
    os.makedirs(os.path.join(run_dir, "nn"), exist_ok=True)
    params = to_rlgames(rank_cfg, task=tname, device=device, seed=base_seed, run_name=run_name,
                        runs_dir=rl_runs_dir, num_envs=env.num_envs, multi_gpu=rank is not None)
    task_cfg = getattr(env, "task_cfg", None)
    meta = {
        "format": CHECKPOINT_FORMAT, "course_lib": __version__, "task": tname,
        "task_class": f"{type(env).__module__}.{type(env).__qualname__}",
        "num_obs": int(env.num_obs), "num_actions": int(env.num_actions),
        "reference_task": _reference_task(tname, env),
        "task_cfg": _jsonable(task_cfg) if task_cfg is not None else _jsonable(getattr(env, "cfg", {})),
        "network": {"units": list(cfg.network["mlp"]["units"]), "activation": cfg.network["mlp"]["activation"],
                    "separate": cfg.network["separate"]},
        "normalize_input": bool(cfg.ppo["normalize_input"]),
        "config": _jsonable(cfg.to_dict()), "rl_games": _jsonable(params), "seed": base_seed, "device": device,
        "stop_at_success": stop.success if stop is not None else None,
        "stop_window": stop.window if stop is not None else None,
    }
    if rank is not None:
        meta["distributed"] = {"world_size": ws, "backend": rank.backend, "num_envs_total": total_envs,
                               "ranks": ranks}
    say = (lambda msg: print(msg, file=out, flush=True))
    if writes:
        with open(os.path.join(run_dir, "config.yaml"), "w") as f:
            f.write(f"# {tname}: resolved from {cfg.source} for device {device}\n")
            if rank is not None:
                f.write(f"# {ws} processes ({rank.backend}): num_envs is the total; each process ran "
                        f"{rank_cfg.num_envs} environments, ppo.minibatch_size {rank_cfg.ppo['minibatch_size']} "
                        f"(distributed.yaml)\n")
            for key, old, new, why in changes:
                f.write(f"# changed {key}: {old} -> {new} ({why})\n")
            yaml.safe_dump(_jsonable(cfg.to_dict()), f, sort_keys=False)
        with open(os.path.join(run_dir, "rl_games.yaml"), "w") as f:
            f.write("# the parameters course_lib gave rl-games 1.6.5's Runner.load"
                    + (f" in rank 0 of {ws} (each process: its share of the environments)\n" if rank else "\n"))
            yaml.safe_dump(_jsonable(params), f, sort_keys=False)

    if rank is None:
        say(f"Training {tname} on {device}: {env.num_envs} environments, {cfg.ppo['num_iterations']} iterations "
            f"of {cfg.ppo['horizon_length']} steps, seed {seed} -> {run_dir}")
    else:
        where = (f"{ws} GPU{'s' if ws > 1 else ''} (cuda:0..{ws - 1}, {rank.backend})" if rank.kind == "cuda" else
                 f"{ws} CPU process{'es' if ws > 1 else ''} ({rank.backend})")
        unit = "GPU" if rank.kind == "cuda" else "process"
        say(f"Training {tname} on {where}: {total_envs} environments in all ({rank_cfg.num_envs} per {unit}), "
            f"{cfg.ppo['num_iterations']} iterations of {cfg.ppo['horizon_length']} steps, seeds "
            f"{base_seed}..{base_seed + ws - 1} (seed + rank) -> {run_dir}")
    for key, old, new, why in changes:
        say(f"  {key}: {old} -> {new}  ({why})")
    if env.device.type == "cuda":  # where a step may run as one CUDA graph: say whether it does, and why
        say(f"  step: {env.step_path}")
    if rank is not None and ws > 1:
        say(f"  (Mean Reward and Success Rate: rank 0's {env.num_envs} environments, as rl-games reports; FPS and "
            f"environment steps: all {total_envs})")

    # rl-games, registered the IsaacGymEnvs way
    random_start = bool(cfg.ppo.get("random_episode_start"))
    register_task(lambda: env, random_episode_start=random_start)
    if writes:
        observer = CourseObserver(run_dir, cfg.ppo["num_iterations"], print_interval or 0, progress, out=out,
                                  callback=callback, world_size=ws, stop=stop, random_episode_start=random_start)
    else:
        observer = RankObserver()
    runner = Runner(algo_observer=observer)
    agent_cls = _make_agent_class()
    agent_cls.course_meta = meta
    agent_cls.course_rank = rank
    runner.algo_factory.register_builder("a2c_continuous", lambda **kw: agent_cls(**kw))

    log = open(os.path.join(run_dir, "rl_games.log"), "w")
    stream = out if verbose else _FilteredStdout(out, log)
    t0 = time.perf_counter()
    interrupted = False
    try:
        with contextlib.redirect_stdout(stream):
            runner.load(params)
            _seed_everything(seed)  # rl-games seeds only when seed != 0
            if isinstance(threads, int) and threads > 0:
                torch.set_num_threads(threads)  # Runner.load sets its own count
            runner.reset()
            try:
                runner.run({"train": True, "play": False, "checkpoint": None, "sigma": None})
            except KeyboardInterrupt:
                interrupted = True
            agent = observer.algo
            if agent is None:
                raise RuntimeError("rl-games did not start training (see rl_games.log)")
            last = os.path.join(run_dir, "nn", "last")
            if writes:
                # the final checkpoint says whether the stop rule ended the run (train_or_reuse reuses such a run)
                agent.course_meta = {**agent.course_meta,
                                     "stopped_early": getattr(observer, "stopped_at", None) is not None}
                agent.save(last)
            if agent.writer is not None:
                agent.writer.flush()
                agent.writer.close()
    finally:
        observer.close()
        if not verbose:
            stream.flush()
        log.close()
    wall = time.perf_counter() - t0
    if rank is not None:
        # what each process ran, measured in it: its environment steps (rank 0 writes distributed.yaml)
        import torch.distributed as dist

        ran = [None] * ws
        weights = sum(float(p.detach().double().sum()) for p in agent.model.parameters())
        dist.all_gather_object(ran, {"iterations": int(agent.epoch_num),
                                     "env_steps": int(getattr(agent.vec_env, "num_steps", 0)) * int(env.num_envs),
                                     "weights_sum": weights})
        if not writes:
            import shutil

            out.close()
            shutil.rmtree(rl_runs_dir, ignore_errors=True)
            return None
        with open(os.path.join(run_dir, "distributed.yaml"), "w") as f:
            f.write(f"# the {ws} processes of this run (torch.distributed, {rank.backend}); rank 0 wrote this "
                    f"directory. env_steps: counted in each process; weights_sum: the sum of its final network "
                    f"weights (the same in every process: rl-games averages the gradients).\n")
            yaml.safe_dump({"world_size": ws, "backend": rank.backend, "num_envs_total": total_envs,
                            "ranks": [{**a, **b} for a, b in zip(ranks, ran)]}, f, sort_keys=False)
    try:
        from .plotting import save_training_curves

        save_training_curves(run_dir)
    except Exception as e:  # a plot must never lose a trained policy
        say(f"(could not draw training_curves.png: {e})")
    it = observer.rows[-1]["iteration"] if observer.rows else 0
    result = TrainResult(task=tname, run_dir=run_dir, checkpoint=last + ".pth", iterations=it,
                         env_steps=it * cfg.ppo["horizon_length"] * total_envs, wall_time_s=wall,
                         metrics=observer.rows, timing=observer.timing, changes=changes, config=cfg,
                         rl_games=params, interrupted=interrupted, world_size=ws,
                         stopped_early=getattr(observer, "stopped_at", None) is not None)
    say(("Interrupted" if interrupted else "Done") + f": {it} iterations, {result.env_steps} environment steps in "
        f"{wall:.1f} s. Policy: {result.checkpoint}")
    return result


def _registered():
    from ..envs import tasks

    return tasks()


def _cfg_fields(tname):
    from .config import task_cfg_class

    cls = task_cfg_class(tname)
    return {f.name for f in dataclasses.fields(cls)} if cls is not None else set()


def _reference_task(tname, env):
    """The registered task this one stands for: itself, or for a student's own class (e.g. the chapter's
    ``FrankaReachTask`` listing) the registered task whose class has the same name and sizes."""
    from ..envs import tasks

    known = tasks()
    if tname in known:
        return tname
    for name, cls in known.items():
        if cls.__name__ == type(env).__name__:
            probe = getattr(cls, "num_obs", None)
            if probe is None or probe == env.num_obs:
                return name
    return None
