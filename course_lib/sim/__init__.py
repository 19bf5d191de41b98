"""The course's embedded GPU-parallel simulator: batched articulations in PyTorch.

    >>> from course_lib.sim import asset_path, load_urdf
    >>> arm = load_urdf(asset_path("franka_panda.urdf"), num_envs=4096, device="cuda")
    >>> pos, rot = arm.forward_kinematics(arm.q)   # (N, L, 3), (N, L, 3, 3)

Knows nothing of tasks or RL (see :mod:`course_lib.envs`).
"""
from __future__ import annotations

import os

import torch

from .articulation import GRAVITY, Articulation
from .urdf import JointSpec, LinkSpec, RobotSpec, parse_urdf

__all__ = ["asset_path", "load_urdf", "Articulation", "parse_urdf", "RobotSpec", "LinkSpec", "JointSpec", "GRAVITY"]

_ASSETS = os.path.join(os.path.dirname(__file__), "assets")


def asset_path(name: str) -> str:
    """Path of an asset shipped with the course ("franka_panda.urdf", "cartpole.urdf")."""
    path = os.path.join(_ASSETS, name)
    if not os.path.exists(path):
        have = sorted(os.listdir(_ASSETS))
        raise FileNotFoundError(f"no asset named {name!r}; shipped assets: {have}")
    return path


def load_urdf(path: str, num_envs: int, device="cpu", dtype=torch.float32) -> Articulation:
    """Load a URDF file into an :class:`Articulation` with ``num_envs`` copies."""
    return Articulation(parse_urdf(path), num_envs=num_envs, device=device, dtype=dtype)
