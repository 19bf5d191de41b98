"""Tasks: the chapter's ``VecEnvBase`` programming model on the course's simulator.

    >>> import course_lib
    >>> env = course_lib.make("franka_reach", num_envs=1024, device="cpu", seed=0)
    >>> obs, rew, resets, extras = env.step(torch.zeros(1024, 7))
"""
from __future__ import annotations

from .cartpole import CartpoleCfg
from .franka_reach import PANDA_HOME, FrankaReachCfg, FrankaReachTask
from .randomization import (CHAPTER_RANDOMIZATION, EXERCISE5_TEST_SET, DomainRandomizer, RandomizationParams,
                            randomize, unrandomize)
from .vec_env import ListingWarning, VecEnvBase

__all__ = ["VecEnvBase", "ListingWarning", "CartpoleCfg", "FrankaReachTask", "FrankaReachCfg",
           "PANDA_HOME", "make", "register", "TASKS", "tasks", "task_class", "randomize", "unrandomize", "DomainRandomizer",
           "RandomizationParams", "CHAPTER_RANDOMIZATION", "EXERCISE5_TEST_SET"]

#: name -> task class of the library's tasks; ``register`` adds to it. :func:`tasks` adds the reference tasks of
#: the instructor's package where this machine has it (course_lib.answers)
TASKS = {
    "franka_reach": FrankaReachTask,
}


def tasks() -> dict:
    """name -> task class: every task :func:`make`, ``course train`` and rl-games can build here."""
    from ..answers import reference_tasks

    return {**reference_tasks(), **TASKS}


def task_class(name: str):
    """The task class registered as ``name``, or a ValueError that lists the known ones (and, for a reference
    task that is an exercise's answer, says what to use instead)."""
    from ..answers import INSTRUCTOR_TASKS

    known = tasks()
    if name in known:
        return known[name]
    if name in INSTRUCTOR_TASKS:
        raise ValueError(f"there is no reference {name!r} task in the student library: {INSTRUCTOR_TASKS[name][1]} "
                         f"(available tasks: {sorted(known)})")
    raise ValueError(f"unknown task {name!r}; available tasks: {sorted(known)}")


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
    cls = task_class(name)
    device = overrides.pop("sim_device", device)
    return cls(cfg, sim_device=device, **overrides)
