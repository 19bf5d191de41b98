"""The chapter's training YAML (``num_envs``, ``ppo:``, ``network:``) and its translation for rl-games 1.6.5.

The file format is the one printed in the chapter (Step 2)::

    num_envs: 4096
    env_spacing: 2.0
    ppo:
      num_iterations: 1000
      horizon_length: 16
      minibatch_size: 32768
      learning_rate: 0.001
      gamma: 0.99
      lam: 0.95
      clip_param: 0.2
      entropy_coef: 0.0
      value_loss_coef: 2.0
      max_grad_norm: 1.0
    network:
      name: "ActorCritic"
      separate: False
      mlp:
        units: [256, 128, 64]
        activation: "elu"
        initializer: "default"

Every key of ``ppo:`` above is required. A few optional ``ppo:`` keys
(:data:`PPO_OPTIONAL`) expose rl-games settings that the chapter leaves at
their defaults (``mini_epochs``, the learning-rate schedule, ...). Other
top-level keys must be fields of the task's config dataclass (e.g.
``max_episode_length``, ``reward``) and go to the task. Anything else is an
error that names the key and the file.

:func:`to_rlgames` turns the file into rl-games' ``params`` dict
(``a2c_continuous``, ``continuous_a2c_logstd``, ``actor_critic`` with the
file's MLP, input and value normalisation, value bootstrap on time-outs).

:func:`apply_device_defaults` shrinks what a CPU cannot train in the
course's budget (see :data:`CPU_PROFILES`) and reports every change.
"""
from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

__all__ = [
    "ConfigError", "TrainConfig", "load_config", "parse_config", "to_rlgames", "apply_device_defaults",
    "default_config_path", "PPO_REQUIRED", "PPO_OPTIONAL", "CPU_PROFILES", "TASK_DEFAULTS", "task_cfg_class",
]


class ConfigError(ValueError):
    """A training config is malformed: the message names the key and the file."""


#: keys of ``ppo:`` that the chapter's file has, all required, with their meaning
PPO_REQUIRED = {
    "num_iterations": "training iterations (rl-games epochs): collect a rollout, then update",
    "horizon_length": "control steps per environment in each rollout",
    "minibatch_size": "samples per gradient step (horizon_length * num_envs must be a multiple of it)",
    "learning_rate": "Adam learning rate (the start value under the adaptive schedule)",
    "gamma": "discount factor",
    "lam": "GAE lambda (rl-games: tau)",
    "clip_param": "PPO ratio clip (rl-games: e_clip)",
    "entropy_coef": "weight of the entropy bonus",
    "value_loss_coef": "weight of the value loss (rl-games: critic_coef)",
    "max_grad_norm": "gradient-norm clip (rl-games: grad_norm, with truncate_grads)",
}

#: optional ``ppo:`` keys: name -> (default, meaning)
PPO_OPTIONAL = {
    "mini_epochs": (5, "passes over each rollout"),
    "lr_schedule": ("adaptive", "'adaptive' (KL-driven, as IsaacGymEnvs), 'linear' or None (constant)"),
    "kl_threshold": (0.008, "target KL of the adaptive schedule"),
    "normalize_input": (True, "running mean/std normalisation of observations"),
    "normalize_value": (True, "running mean/std normalisation of value targets"),
    "normalize_advantage": (True, "normalise advantages per rollout"),
    "value_bootstrap": (True, "bootstrap the value of episodes cut by the time limit"),
    "clip_value": (True, "clip the value update like the policy's"),
    "bounds_loss_coef": (0.0001, "penalty on action means outside [-1.1, 1.1]"),
    "reward_scale": (1.0, "rewards are multiplied by this for learning (logs show the raw reward)"),
    "games_to_track": (100, "episodes in rl-games' running mean of returns"),
    "save_best_after": (100, "iterations before rl-games starts saving its best-reward checkpoint"),
    "torch_compile": (None, "rl-games' torch.compile (true, false or a mode such as 'reduce-overhead'): "
                            "None = off (measured: it does not pay off for these networks)"),
    "random_episode_start": (None, "start each environment's first episode at a random step of the time limit "
                                   "(rsl_rl's init_at_random_ep_len), so that episodes end spread over the "
                                   "iterations rather than all in one. None = the course's default for the task "
                                   "(TASK_DEFAULTS: on for the reach task; off for the cart-pole, where lasting "
                                   "until the time limit is success and a shortened first episode would count)"),
    "torch_threads": (None, "CPU threads for torch: None = 1 on 2 cores, half the cores (at most 4) on more "
                            "(see cpu_threads); 'auto' = rl-games' min(4, cores)"),
}

NETWORK_KEYS = {"name", "separate", "mlp", "fixed_sigma", "sigma_init"}
MLP_KEYS = {"units", "activation", "initializer"}
TOP_LEVEL_OWN = {"num_envs", "env_spacing", "ppo", "network", "task", "seed"}

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "swish", "gelu", "softplus", "None")
#: the file's initializer names -> rl-games' initializer dict
INITIALIZERS = {
    "default": {"name": "default"},
    "orthogonal": {"name": "orthogonal_initializer", "gain": 1.41421356237},
    "orthogonal_initializer": {"name": "orthogonal_initializer", "gain": 1.41421356237},
    "glorot_normal": {"name": "glorot_normal_initializer", "gain": 1.0},
    "glorot_normal_initializer": {"name": "glorot_normal_initializer", "gain": 1.0},
    "glorot_uniform": {"name": "glorot_uniform_initializer", "gain": 1.0},
    "glorot_uniform_initializer": {"name": "glorot_uniform_initializer", "gain": 1.0},
    "kaiming_normal": {"name": "kaiming_normal"},
}
NETWORK_NAMES = {"actorcritic": "actor_critic", "actor_critic": "actor_critic"}

#: What a CPU can train in the course's budget (cart-pole: 95 % success in
#: 60 s; reach: 80 % in 5 min, on 2 cores). Applied only on the CPU and only
#: to keys the caller did not set explicitly; ``minibatch_size`` is rescaled
#: so that a rollout keeps the file's number of minibatches. Measured with
#: benchmarks/train_time.py (numbers in benchmarks/RESULTS.md).
CPU_PROFILES: dict = {
    "cartpole": {"num_envs": 256, "num_iterations": 100},
    "franka_reach": {"num_envs": 512, "num_iterations": 200},
}


#: The course's defaults for ``ppo:`` keys the file leaves out, per task, on every device (each applied one is
#: printed with the run's other changes). The reach task: measured on chapter 3's solution, 512 environments on the
#: CPU (benchmarks/RESULTS.md), with every failing episode timing out in the same iteration, seed 4 had not learned
#: by iteration 300 and seed 6 took 192; with random first-episode starts all 20 seeds learned within 74.
TASK_DEFAULTS: dict = {
    "franka_reach": {"random_episode_start": True},
}


def default_config_path(task: str) -> str:
    """Path of the packaged YAML for ``task`` (``course_lib/configs/<task>.yaml``)."""
    from ..envs.config import packaged_config_path  # the tasks' configs read their num_envs in the same file

    here = packaged_config_path(task)
    if not os.path.exists(here):
        avail = sorted(f[:-5] for f in os.listdir(os.path.dirname(here)) if f.endswith(".yaml"))
        raise ConfigError(f"no packaged config for task {task!r} (packaged: {avail}); pass one with config=... / --config FILE")
    return here


def task_cfg_class(task: str):
    """The config dataclass of a registered task: ``<Name>Task`` -> ``<Name>Cfg`` in its module
    (or the class attribute ``cfg_class``); None for tasks that have none."""
    import sys

    from ..envs import tasks

    cls = tasks().get(task)
    if cls is None:
        return None
    found = getattr(cls, "cfg_class", None)
    if found is None:
        name = cls.__name__[:-4] if cls.__name__.endswith("Task") else cls.__name__
        found = getattr(sys.modules.get(cls.__module__), name + "Cfg", None)
    return found if dataclasses.is_dataclass(found) else None


@dataclass
class TrainConfig:
    """The chapter's file, checked. ``source`` names the file (or 'config dict') in error messages."""

    num_envs: int
    ppo: dict
    network: dict
    env_spacing: float = 2.0
    task: str | None = None
    seed: int | None = None
    task_overrides: dict = field(default_factory=dict)
    source: str = "config"
    raw: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The file's format again (what ``runs/<name>/config.yaml`` holds)."""
        d = {"num_envs": self.num_envs, "env_spacing": self.env_spacing}
        if self.task is not None:
            d["task"] = self.task
        if self.seed is not None:
            d["seed"] = self.seed
        d.update(self.task_overrides)
        d["ppo"] = copy.deepcopy(self.ppo)
        d["network"] = copy.deepcopy(self.network)
        return d


def load_config(path_or_dict: Any = None, task: str | None = None) -> TrainConfig:
    """Read and check a training config: a YAML path, a dict in the file's format, a
    :class:`TrainConfig`, or None for the packaged config of ``task``."""
    if isinstance(path_or_dict, TrainConfig):
        return copy.deepcopy(path_or_dict)
    if path_or_dict is None:
        if task is None:
            raise ConfigError("no config given and no task named to find the packaged one")
        path_or_dict = default_config_path(task)
    if isinstance(path_or_dict, (str, os.PathLike)):
        path = os.fspath(path_or_dict)
        if not os.path.exists(path):
            raise ConfigError(f"config file not found: {path}")
        try:
            with open(path) as f:
                data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
        return parse_config(data, source=path, task=task)
    if isinstance(path_or_dict, Mapping):
        return parse_config(path_or_dict, source="config dict", task=task)
    raise ConfigError(f"config must be a YAML path, a dict or None, got {type(path_or_dict).__name__}")


def _num(value, key, source, kind=float, minimum=None, allow_zero=True):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} in {source} must be a number, got {value!r}")
    if kind is int and float(value) != int(value):
        raise ConfigError(f"{key} in {source} must be an integer, got {value!r}")
    value = kind(value)
    if minimum is not None and (value < minimum or (not allow_zero and value == minimum)):
        raise ConfigError(f"{key} in {source} must be {'>' if not allow_zero else '>='} {minimum}, got {value!r}")
    return value


def parse_config(data: Any, source: str = "config", task: str | None = None) -> TrainConfig:
    """Check a dict in the chapter's format. Errors name the key and ``source``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source} must hold a mapping (num_envs, ppo, network), got {type(data).__name__}")
    data = dict(data)
    task = task or data.get("task")
    cfg_cls = task_cfg_class(task) if task else None
    task_fields = {f.name for f in dataclasses.fields(cfg_cls)} if cfg_cls else set()
    unknown = [k for k in data if k not in TOP_LEVEL_OWN and k not in task_fields]
    if unknown:
        allowed = sorted(TOP_LEVEL_OWN | (task_fields - {"num_envs", "seed", "env_spacing"}))
        raise ConfigError(f"unknown key {unknown[0]!r} in {source}; allowed top-level keys: {allowed}")
    for key in ("num_envs", "ppo", "network"):
        if key not in data:
            raise ConfigError(f"missing key {key!r} in {source}")
    num_envs = _num(data["num_envs"], "num_envs", source, int, 1)

    ppo = data["ppo"]
    if not isinstance(ppo, Mapping):
        raise ConfigError(f"ppo in {source} must be a mapping of PPO settings, got {ppo!r}")
    for key in ppo:
        if key not in PPO_REQUIRED and key not in PPO_OPTIONAL:
            raise ConfigError(f"unknown key 'ppo.{key}' in {source}; allowed: "
                              f"{sorted(PPO_REQUIRED)} and optional {sorted(PPO_OPTIONAL)}")
    for key in PPO_REQUIRED:
        if key not in ppo:
            raise ConfigError(f"missing key 'ppo.{key}' in {source} ({PPO_REQUIRED[key]})")
    ppo = dict(ppo)
    for key in ("num_iterations", "horizon_length", "minibatch_size"):
        ppo[key] = _num(ppo[key], f"ppo.{key}", source, int, 0, allow_zero=False)
    for key in ("learning_rate", "gamma", "lam", "clip_param", "entropy_coef", "value_loss_coef", "max_grad_norm"):
        ppo[key] = _num(ppo[key], f"ppo.{key}", source, float, 0.0)
    for key in ("gamma", "lam"):
        if ppo[key] > 1.0:
            raise ConfigError(f"ppo.{key} in {source} must be in [0, 1], got {ppo[key]}")
    if ppo["learning_rate"] == 0:
        raise ConfigError(f"ppo.learning_rate in {source} must be > 0")
    for key, (default, _) in PPO_OPTIONAL.items():
        ppo.setdefault(key, default)
    ppo["mini_epochs"] = _num(ppo["mini_epochs"], "ppo.mini_epochs", source, int, 0, allow_zero=False)
    if not (ppo["random_episode_start"] is None or isinstance(ppo["random_episode_start"], bool)):
        raise ConfigError(f"ppo.random_episode_start in {source} must be true or false, got "
                          f"{ppo['random_episode_start']!r}")
    tc = ppo["torch_compile"]
    if not (tc is None or isinstance(tc, bool) or tc in ("default", "reduce-overhead", "max-autotune")):
        raise ConfigError(f"ppo.torch_compile in {source} must be true, false or a torch.compile mode "
                          f"('default', 'reduce-overhead', 'max-autotune'), got {tc!r}")
    if ppo["lr_schedule"] not in ("adaptive", "linear", None, "None", "constant"):
        raise ConfigError(f"ppo.lr_schedule in {source} must be 'adaptive', 'linear' or None, got {ppo['lr_schedule']!r}")

    net = data["network"]
    if not isinstance(net, Mapping):
        raise ConfigError(f"network in {source} must be a mapping (name, separate, mlp), got {net!r}")
    for key in net:
        if key not in NETWORK_KEYS:
            raise ConfigError(f"unknown key 'network.{key}' in {source}; allowed: {sorted(NETWORK_KEYS)}")
    for key in ("name", "mlp"):
        if key not in net:
            raise ConfigError(f"missing key 'network.{key}' in {source}")
    if str(net["name"]).lower() not in NETWORK_NAMES:
        raise ConfigError(f"network.name in {source} must be 'ActorCritic', got {net['name']!r}")
    mlp = net["mlp"]
    if not isinstance(mlp, Mapping):
        raise ConfigError(f"network.mlp in {source} must be a mapping (units, activation, initializer)")
    for key in mlp:
        if key not in MLP_KEYS:
            raise ConfigError(f"unknown key 'network.mlp.{key}' in {source}; allowed: {sorted(MLP_KEYS)}")
    for key in ("units", "activation"):
        if key not in mlp:
            raise ConfigError(f"missing key 'network.mlp.{key}' in {source}")
    units = mlp["units"]
    if not isinstance(units, (list, tuple)) or not units or not all(
            isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units):
        raise ConfigError(f"network.mlp.units in {source} must be a list of positive layer sizes, got {units!r}")
    act = str(mlp["activation"])
    if act not in ACTIVATIONS:
        raise ConfigError(f"network.mlp.activation in {source} must be one of {list(ACTIVATIONS)}, got {act!r}")
    init = str(mlp.get("initializer", "default"))
    if init not in INITIALIZERS:
        raise ConfigError(f"network.mlp.initializer in {source} must be one of {sorted(INITIALIZERS)}, got {init!r}")
    separate = net.get("separate", False)
    if not isinstance(separate, bool):
        raise ConfigError(f"network.separate in {source} must be true or false, got {separate!r}")
    network = {"name": str(net["name"]), "separate": separate,
               "mlp": {"units": [int(u) for u in units], "activation": act, "initializer": init},
               "fixed_sigma": bool(net.get("fixed_sigma", True)),
               "sigma_init": float(net.get("sigma_init", 0.0))}

    seed = data.get("seed")
    if seed is not None:
        seed = _num(seed, "seed", source, int, 0)
    overrides = {k: v for k, v in data.items() if k in task_fields and k not in TOP_LEVEL_OWN}
    return TrainConfig(num_envs=num_envs, ppo=ppo, network=network,
                       env_spacing=float(data.get("env_spacing", 2.0)), task=task, seed=seed,
                       task_overrides=overrides, source=source, raw=data)


def _has_triton() -> bool:
    import importlib.util

    return importlib.util.find_spec("triton") is not None


def cpu_threads() -> int:
    """Torch threads for CPU training: 1 on machines of 2 cores or fewer, else half the cores, at most 4.

    Measured on a shared 2-core VM: with 2 threads, training ran 20x slower whenever another process
    used a core (OpenMP threads wait for each other); with 1 thread it never did
    (benchmarks/RESULTS.md). Leaving cores free keeps that from happening on bigger machines too.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return 1 if n <= 2 else min(4, n // 2)


def _rescale_minibatch(cfg: TrainConfig, old_envs: int, new_envs: int) -> int:
    """Keep the file's number of minibatches per rollout when the environment count changes."""
    ppo = cfg.ppo
    old_batch = ppo["horizon_length"] * old_envs
    n_mb = max(1, round(old_batch / ppo["minibatch_size"]))
    new_batch = ppo["horizon_length"] * new_envs
    while n_mb > 1 and new_batch % n_mb:
        n_mb -= 1
    return new_batch // n_mb


def apply_device_defaults(cfg: TrainConfig, task: str, device: str, explicit: Mapping | None = None):
    """Device-aware defaults. Returns ``(cfg, changes)``; ``changes`` lists
    ``(key, old, new, why)`` for every value that differs from the file.

    ``explicit`` holds what the caller set by hand (``num_envs``,
    ``num_iterations``): it always wins, on any device. On the CPU, the
    task's :data:`CPU_PROFILES` entry caps the environment count and the
    iteration count, and rl-games' ``torch_compile`` is off (its compilation
    alone costs ~25 s). On CUDA the file's numbers stand. Whenever the
    environment count changes, ``minibatch_size`` follows so that a rollout
    keeps the file's number of minibatches.
    """
    cfg = copy.deepcopy(cfg)
    explicit = dict(explicit or {})
    changes = []
    is_cpu = str(device).startswith("cpu")
    old_envs = cfg.num_envs
    profile = CPU_PROFILES.get(task, {}) if is_cpu else {}

    if explicit.get("num_envs") is not None:
        new = int(explicit["num_envs"])
        if new < 1:
            raise ConfigError(f"num_envs must be at least 1, got {new}")
        if new != cfg.num_envs:
            changes.append(("num_envs", cfg.num_envs, new, "set on the command line / in train()"))
        cfg.num_envs = new
    elif "num_envs" in profile and cfg.num_envs > profile["num_envs"]:
        changes.append(("num_envs", cfg.num_envs, profile["num_envs"],
                        "CPU default: what trains within the course's CPU budget"))
        cfg.num_envs = profile["num_envs"]

    if explicit.get("num_iterations") is not None:
        new = int(explicit["num_iterations"])
        if new < 1:
            raise ConfigError(f"iterations must be at least 1, got {new}")
        if new != cfg.ppo["num_iterations"]:
            changes.append(("ppo.num_iterations", cfg.ppo["num_iterations"], new, "set on the command line / in train()"))
        cfg.ppo["num_iterations"] = new
    elif "num_iterations" in profile and cfg.ppo["num_iterations"] > profile["num_iterations"]:
        changes.append(("ppo.num_iterations", cfg.ppo["num_iterations"], profile["num_iterations"],
                        "CPU default: enough to reach the course's target within the CPU budget"))
        cfg.ppo["num_iterations"] = profile["num_iterations"]

    batch = cfg.ppo["horizon_length"] * cfg.num_envs
    if cfg.num_envs != old_envs:
        new_mb = _rescale_minibatch(cfg, old_envs, cfg.num_envs)
        if new_mb != cfg.ppo["minibatch_size"]:
            changes.append(("ppo.minibatch_size", cfg.ppo["minibatch_size"], new_mb,
                            f"follows num_envs (keeps {batch // new_mb} minibatch(es) per rollout)"))
            cfg.ppo["minibatch_size"] = new_mb
    elif batch % cfg.ppo["minibatch_size"]:
        raise ConfigError(f"ppo.minibatch_size ({cfg.ppo['minibatch_size']}) in {cfg.source} must divide "
                          f"horizon_length * num_envs = {batch}")
    if cfg.ppo["minibatch_size"] > batch:
        changes.append(("ppo.minibatch_size", cfg.ppo["minibatch_size"], batch, "capped at one rollout"))
        cfg.ppo["minibatch_size"] = batch

    if not is_cpu and "stepper_mode" not in cfg.task_overrides and "stepper_mode" not in explicit.get(
            "task_overrides", {}):
        cls = task_cfg_class(task)
        if cls is not None and "stepper_mode" in {f.name for f in dataclasses.fields(cls)}:
            if _has_triton():
                cfg.task_overrides["stepper_mode"] = "compile+graph"
                changes.append(("stepper_mode", "eager", "compile+graph",
                                "CUDA: the simulator's step compiled (triton) and replayed from a CUDA graph: "
                                "~20 s to compile, then the fastest (benchmarks/RESULTS.md)"))
            else:
                cfg.task_overrides["stepper_mode"] = "graph"
                changes.append(("stepper_mode", "eager", "graph",
                                "CUDA: the simulator's step is replayed from a CUDA graph (about 5x faster; "
                                "install triton to compile it too)"))
    if cfg.ppo.get("torch_compile") is None:
        # rl-games compiles by default. Measured (benchmarks/RESULTS.md): on the CPU compiling costs
        # ~25 s; on an H100 it costs ~10 s and gains nothing for these small MLPs (the run is bound by
        # kernel launches), so it is off on both unless the file asks for it.
        cfg.ppo["torch_compile"] = False
        changes.append(("ppo.torch_compile", "on (rl-games default)", False,
                        "CPU: compiling costs ~25 s, more than it saves" if is_cpu else
                        "compiling costs ~10 s and gains nothing for this network (benchmarks/RESULTS.md); "
                        "set ppo.torch_compile: true to compile"))
    if cfg.ppo.get("random_episode_start") is None:
        on = bool(TASK_DEFAULTS.get(task, {}).get("random_episode_start", False))
        cfg.ppo["random_episode_start"] = on
        if on:
            changes.append(("ppo.random_episode_start", "off", True,
                            "the course's default for this task: first episodes start at a random step of the "
                            "time limit, so that failing episodes do not all time out in the same iteration "
                            "(benchmarks/RESULTS.md)"))
    if cfg.ppo.get("torch_threads") is None:
        cfg.ppo["torch_threads"] = cpu_threads() if is_cpu else "auto"
    return cfg, changes


def to_rlgames(cfg: TrainConfig, *, task: str, device: str, seed: int, run_name: str, runs_dir: str,
               num_envs: int | None = None, multi_gpu: bool = False) -> dict:
    """rl-games 1.6.5 parameters (``{"params": ...}``, as ``Runner.load`` takes) from the chapter's file.

    The mapping: ppo.lam -> tau, clip_param -> e_clip, value_loss_coef ->
    critic_coef, max_grad_norm -> grad_norm (with truncate_grads),
    num_iterations -> max_epochs; network ActorCritic -> ``actor_critic`` with
    a Gaussian head of state-independent log-std (``continuous_a2c_logstd``).
    ``multi_gpu``: a process of a multi-GPU run (``num_envs``: this process's
    share; :mod:`course_lib.rl.distributed`).
    """
    ppo, net = cfg.ppo, cfg.network
    dev = "cuda:0" if str(device) == "cuda" else str(device)
    schedule = ppo["lr_schedule"]
    schedule = None if schedule in (None, "None", "constant") else schedule
    config = {
        "name": task,
        "full_experiment_name": run_name,
        "train_dir": runs_dir,
        "env_name": "rlgpu",
        "env_config": {},
        "device": dev,
        "device_name": dev,
        "multi_gpu": bool(multi_gpu),
        "ppo": True,
        "mixed_precision": False,
        "normalize_input": bool(ppo["normalize_input"]),
        "normalize_value": bool(ppo["normalize_value"]),
        "normalize_advantage": bool(ppo["normalize_advantage"]),
        "value_bootstrap": bool(ppo["value_bootstrap"]),
        "num_actors": int(num_envs if num_envs is not None else cfg.num_envs),
        "reward_shaper": {"scale_value": float(ppo["reward_scale"])},
        "gamma": ppo["gamma"],
        "tau": ppo["lam"],
        "learning_rate": ppo["learning_rate"],
        "lr_schedule": schedule,
        "schedule_type": "standard",
        "kl_threshold": float(ppo["kl_threshold"]),
        "max_epochs": ppo["num_iterations"],
        "save_best_after": int(ppo["save_best_after"]),
        "save_frequency": 0,
        "print_stats": False,
        "grad_norm": ppo["max_grad_norm"],
        "truncate_grads": True,
        "entropy_coef": ppo["entropy_coef"],
        "e_clip": ppo["clip_param"],
        "clip_value": bool(ppo["clip_value"]),
        "horizon_length": ppo["horizon_length"],
        "minibatch_size": ppo["minibatch_size"],
        "mini_epochs": ppo["mini_epochs"],
        "critic_coef": ppo["value_loss_coef"],
        "bounds_loss_coef": float(ppo["bounds_loss_coef"]),
        "seq_length": 4,
        "games_to_track": int(ppo["games_to_track"]),
        "torch_compile": ppo["torch_compile"] if isinstance(ppo["torch_compile"], str) else bool(ppo["torch_compile"]),
        "player": {"deterministic": True, "games_num": 1, "print_stats": False},
    }
    network = {
        "name": "actor_critic",
        "separate": net["separate"],
        "space": {"continuous": {
            "mu_activation": "None",
            "sigma_activation": "None",
            "mu_init": {"name": "default"},
            "sigma_init": {"name": "const_initializer", "val": net.get("sigma_init", 0.0)},
            "fixed_sigma": net.get("fixed_sigma", True),
        }},
        "mlp": {
            "units": list(net["mlp"]["units"]),
            "activation": net["mlp"]["activation"],
            "d2rl": False,
            "initializer": dict(INITIALIZERS[net["mlp"]["initializer"]]),
            "regularizer": {"name": "None"},
        },
    }
    params = {
        "seed": int(seed),
        "algo": {"name": "a2c_continuous"},
        "model": {"name": "continuous_a2c_logstd"},
        "network": network,
        "config": config,
    }
    threads = ppo.get("torch_threads")
    params["torch_threads"] = "auto" if threads in (None, "auto") else int(threads)
    return {"params": params}
