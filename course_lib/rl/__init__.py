"""Training and evaluation (``course_lib.rl``): rl-games glue, evaluation, policies.

- :func:`train` runs rl-games 1.6.5's ``Runner`` on a course task, with the
  chapter's YAML (``configs/<task>.yaml``), progress line and bar, and a run
  directory ``runs/<name>/``.
- :func:`load_policy` turns a checkpoint into a deterministic ``torch`` module.
- :func:`evaluate` measures success on a fixed, seeded set of episodes.
- :func:`export_onnx` / :func:`export_torchscript` write a policy for deployment
  (:mod:`course_lib.rl.export`), :func:`load_exported` reads it back.
- :class:`CourseVectorEnv` adapts a task to gymnasium's vector API (for
  Stable-Baselines3, skrl and friends).

rl-games is imported only when training starts.
"""
from __future__ import annotations

from .config import ConfigError, TrainConfig, apply_device_defaults, load_config, to_rlgames
from .evaluate import EvalResult, evaluate, success_ci
from .policy import CheckpointError, Policy, load_policy

__all__ = ["train", "TrainResult", "evaluate", "EvalResult", "success_ci", "load_policy", "Policy",
           "CheckpointError", "ConfigError", "TrainConfig", "load_config", "to_rlgames", "apply_device_defaults",
           "CourseVectorEnv", "export_onnx", "export_torchscript", "load_exported"]


def __getattr__(name):
    if name in ("train", "TrainResult"):
        from . import trainer as _train

        return getattr(_train, name)
    if name in ("export_onnx", "export_torchscript", "load_exported"):
        from . import export as _export

        return getattr(_export, name)
    if name == "CourseVectorEnv":
        from .gym_adapter import CourseVectorEnv

        return CourseVectorEnv
    raise AttributeError(f"module 'course_lib.rl' has no attribute {name!r}")
