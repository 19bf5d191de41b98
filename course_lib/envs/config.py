"""Typed task configs built from the chapter's plain dicts / YAML files."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

__all__ = ["resolve_cfg", "IGNORED_SECTIONS"]

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
