"""Typed task configs built from the chapter's plain dicts / YAML files, and the packaged files' settings."""
from __future__ import annotations

import copy
import dataclasses
import functools
import os
from typing import Any, Mapping

__all__ = ["resolve_cfg", "IGNORED_SECTIONS", "packaged_config_path", "packaged_setting"]

# Sections of the chapter's YAML that belong to training, not to the task.
IGNORED_SECTIONS = ("ppo", "network", "train", "randomization_params", "name", "task")


def resolve_cfg(cls, cfg: Any = None, source: str = "config", **overrides):
    """Build the dataclass ``cls`` from a mapping (e.g. the chapter's YAML dict),
    an instance of ``cls``, or None, then apply ``overrides``.

    Unknown keys raise a ValueError that names the key, the source and the
    keys that are allowed; the training sections ``ppo:``/``network:`` are
    ignored here (:mod:`course_lib.rl` reads them).
    """
    if cfg is None:
        base = cls()
    elif isinstance(cfg, cls):
        base = cfg
    elif isinstance(cfg, Mapping):
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in cfg if k not in fields and k not in IGNORED_SECTIONS]
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in {source} for {cls.__name__}; "
                             f"allowed keys: {sorted(fields)}")
        base = cls(**{k: v for k, v in cfg.items() if k in fields})
    elif dataclasses.is_dataclass(cfg):
        base = cls(**{k: v for k, v in dataclasses.asdict(cfg).items()
                      if k in {f.name for f in dataclasses.fields(cls)}})
    else:
        raise ValueError(f"{source} must be a dict, a {cls.__name__} or None, got {type(cfg).__name__}")
    if overrides:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in overrides if k not in fields]
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for {cls.__name__}; allowed: {sorted(fields)}")
        base = dataclasses.replace(base, **overrides)
    return base


def packaged_config_path(task: str) -> str:
    """Path of the packaged training file of ``task``: ``course_lib/configs/<task>.yaml`` (it may not exist)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", f"{task}.yaml")


@functools.lru_cache(maxsize=None)
def _packaged(task: str) -> dict:
    import yaml

    with open(packaged_config_path(task)) as f:
        return yaml.safe_load(f)


def packaged_setting(task: str, key: str):
    """A top-level setting of the packaged training file of ``task`` (e.g. ``num_envs``).

    The file is the one owner of what it sets: a task config's default for the same setting reads it here
    (``FrankaReachCfg.num_envs`` is the ``num_envs`` of ``course_lib/configs/franka_reach.yaml``).
    """
    return copy.deepcopy(_packaged(task)[key])
