"""course_lib: GPU-parallel reinforcement learning for robots, the course's library.

Layers (calls go down only): ``sim`` (batched articulations) <- ``envs``
(tasks in the chapter's VecEnvBase model) <- ``rl`` (rl-games glue,
evaluation, export) <- notebooks, grading and the ``course`` command.
"""
from __future__ import annotations

from ._version import __version__
from .envs import VecEnvBase, make, register

__all__ = ["make", "register", "VecEnvBase", "train", "evaluate", "load_policy", "__version__"]


def __getattr__(name):
    # The training layer imports rl-games; load it only when asked for.
    if name in ("train", "evaluate", "load_policy"):
        from . import rl

        return getattr(rl, name)
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")
