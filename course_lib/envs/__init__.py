"""Tasks: the chapter's ``VecEnvBase`` programming model on the course's simulator.

    >>> import course_lib
    >>> env = course_lib.make("franka_reach", num_envs=1024, device="cpu", seed=0)
    >>> obs, rew, resets, extras = env.step(torch.zeros(1024, 7))
"""
from __future__ import annotations

from .cartpole import CartpoleCfg, CartpoleTask
from .franka_reach import PANDA_HOME, FrankaReachCfg, FrankaReachTask
from .randomization import (CHAPTER_RANDOMIZATION, EXERCISE5_TEST_SET, DomainRandomizer, RandomizationParams,
                            randomize, unrandomize)
from .vec_env import ListingWarning, VecEnvBase

__all__ = ["VecEnvBase", "ListingWarning", "CartpoleTask", "CartpoleCfg", "FrankaReachTask", "FrankaReachCfg",
           "PANDA_HOME", "make", "register", "TASKS", "randomize", "unrandomize", "DomainRandomizer",
           "RandomizationParams", "CHAPTER_RANDOMIZATION", "EXERCISE5_TEST_SET"]

#: name -> task class; ``register`` adds to it
TASKS = {
    "cartpole": CartpoleTask,
    "franka_reach": FrankaReachTask,
}


def register(name: str, task_cls) -> None:
    """Make ``task_cls`` available to :func:`make`, ``course train`` and rl-games under ``name``."""
    if not (isinstance(task_cls, type) and issubclass(task_cls, VecEnvBase)):
        raise ValueError(f"register({name!r}, ...): expected a VecEnvBase subclass, got {task_cls!r}")
    TASKS[name] = task_cls


def make(name: str, cfg=None, device: str = "cpu", **overrides) -> VecEnvBase:
    """Build a registered task: ``make("cartpole" | "franka_reach", num_envs=..., seed=..., device=...)``.

    ``cfg`` may be the chapter's YAML dict (its ``ppo:``/``network:`` sections
    are ignored here); keyword overrides win over it. Unknown names or keys
    raise a ValueError that lists the valid ones.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available tasks: {sorted(TASKS)}")
    device = overrides.pop("sim_device", device)
    return TASKS[name](cfg, sim_device=device, **overrides)
