"""The Franka Panda as the course builds it: its home pose, its default drives, and their set-up.

One place for what every Panda in the course shares: the reach task
(:class:`~course_lib.envs.FrankaReachCfg` takes its defaults from here), the
chapter's listing (``VecEnvBase.add_franka``), the collision model's home pose,
the sag demo and MuJoCo's Panda of chapter 6.

    >>> from course_lib.sim import asset_path, load_urdf
    >>> from course_lib.sim.panda import configure_panda
    >>> robot = load_urdf(asset_path("franka_panda.urdf"), 16)
    >>> configure_panda(robot)            # velocity drives, armature, gravity compensation, home pose
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .articulation import Articulation

__all__ = ["PANDA_HOME", "PANDA_DRIVE_DAMPING", "PANDA_ARMATURE", "PandaSetup", "configure_panda"]

#: MuJoCo Menagerie's home (ready) pose of the Panda, rad: collision-free
PANDA_HOME = (0.0, 0.0, 0.0, -1.5708, 0.0, 1.5708, -0.7853)
#: velocity drive kd per joint, N m s/rad: the torque is kd (v_target - v), implicit; effort limits 87/12 N m clip it
PANDA_DRIVE_DAMPING = (80.0, 80.0, 80.0, 80.0, 20.0, 20.0, 20.0)
#: kg m^2, reflected rotor inertia on every joint (MuJoCo Menagerie)
PANDA_ARMATURE = 0.1


@dataclass(frozen=True)
class PandaSetup:
    """What :func:`configure_panda` reads; ``FrankaReachCfg`` has the same fields, with these defaults."""

    drive_damping: tuple = PANDA_DRIVE_DAMPING  # N m s/rad, velocity drive kd per joint
    armature: float = PANDA_ARMATURE  # kg m^2
    joint_damping: float = 0.0  # N m s/rad, viscous
    joint_friction: float = 0.0  # N m, Coulomb (smooth)
    gravity_compensation: bool = True  # the controller adds the nominal model's gravity torque
    home_pose: tuple = PANDA_HOME  # rad


def configure_panda(robot: Articulation, cfg=None) -> None:
    """Velocity drives, armature, damping, friction and gravity compensation from ``cfg``, at rest in its home pose.

    ``cfg``: a :class:`PandaSetup`, a ``FrankaReachCfg`` or anything with their fields; None: ``PandaSetup()``.
    """
    cfg = PandaSetup() if cfg is None else cfg
    dev, dt = robot.device, robot.dtype
    robot.stiffness.zero_()
    robot.damping.copy_(torch.tensor(cfg.drive_damping, dtype=dt, device=dev).expand_as(robot.damping))
    robot.armature.fill_(cfg.armature)
    robot.joint_damping.fill_(cfg.joint_damping)
    robot.joint_friction.fill_(cfg.joint_friction)
    robot.gravity_compensation = cfg.gravity_compensation
    home = torch.tensor(cfg.home_pose, dtype=dt, device=dev)
    robot.set_state(None, q=home.expand(robot.num_envs, -1), qd=torch.zeros_like(robot.qd))
