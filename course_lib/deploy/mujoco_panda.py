"""The Panda in MuJoCo, built from the course's URDF and driven like the course's task drives it.

This is chapter 6's stand-in for the real robot: another physics engine,
written by other people, with its own integrator, actuators and constraint
solver. It is built from the very same URDF file as the course's simulator
(:func:`course_lib.sim.mujoco_bridge.urdf_for_mujoco`), with ``mujoco.MjSpec``
adding what the URDF does not say, each item mirroring
:class:`course_lib.envs.franka_reach.FrankaReachCfg`:

- one ``<velocity kv=drive_damping[j]>`` actuator per joint: force ``kv
  (ctrl - qdot)``, ctrl = the velocity command in rad/s (Isaac Gym's velocity
  drive, stiffness 0);
- ``armature`` on every joint, ``joint_damping`` as joint damping,
  ``joint_friction`` as MuJoCo's ``frictionloss`` (a dry-friction constraint;
  the course uses a smooth tanh: the same at speed, different near rest);
- gravity compensation with ``gravcomp`` on every body, routed through the
  joints' actuators (``actgravcomp``), so that the drive torque plus the
  compensation is clamped to the URDF effort limit (``actfrcrange``), as the
  robot's controller limits the total commanded torque (the course scales
  the whole torque by the same ratio; when a limit is reached both give
  +-limit);
- ``timestep = sim_dt`` (1/120 s) and the ``implicitfast`` integrator, which
  treats the actuators' velocity gain implicitly, as the course's implicit
  drive does (an explicit kv = 80 N m s/rad on the light distal links would
  be unstable at this step); the control loop calls ``mj_step`` ``decimation``
  (2) times per command: 60 Hz;
- gravity (0, 0, -9.81), the robot's base at the origin; no contacts (the
  URDF has no collision geometry, and the reach task has none either);
- joint limits: MuJoCo's soft limit constraint (the course uses hard stops).

Where the two engines part (measured by ``tests/test_deploy.py``): while no
effort limit is reached, a control period of MuJoCo and of the course's
simulator agree to float32 precision (~1e-7 rad). When a command asks for
more torque than the limit (a distal joint from rest at more than ~25 % of
its velocity limit: 20 N m s/rad x 0.6 rad/s = 12 N m), MuJoCo clamps the
force and, the force being saturated, integrates that step explicitly,
while the course scales the drive's gain and stays implicit: in the first
step MuJoCo's joint speeds up about twice as much (and may pass the target
for one step). That difference is part of the sim-to-sim gap the chapter
measures, like the joint limits.

What differs on purpose (the "gap" options of :func:`build_panda_model`):
``mass_scale`` scales every link's mass and inertia while the gravity
compensation stays that of the *nominal* model (``gravcomp = 1 /
mass_scale``), as on a real robot whose controller believes the datasheet.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from ..sim.mujoco_bridge import import_mujoco, urdf_for_mujoco
from ..sim.panda import PANDA_ARMATURE, PANDA_DRIVE_DAMPING

__all__ = ["PANDA_URDF", "TCP_BODY", "PandaMujocoCfg", "build_panda_model", "urdf_joint_limits", "MujocoPanda"]

#: the course's Panda URDF (the one both simulators read)
PANDA_URDF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sim", "assets",
                          "franka_panda.urdf")
#: the body whose origin is the reach task's TCP
TCP_BODY = "panda_hand_tcp"


@dataclass
class PandaMujocoCfg:
    """How the MuJoCo Panda is built; the defaults mirror ``FrankaReachCfg``'s defaults."""

    sim_dt: float = 1.0 / 120.0  # s, MuJoCo's timestep (the course's physics step)
    decimation: int = 2  # mj_step calls per control command: 60 Hz
    drive_damping: tuple = PANDA_DRIVE_DAMPING  # N m s/rad, actuator kv per joint
    armature: float = PANDA_ARMATURE  # kg m^2, every joint
    joint_damping: float = 0.0  # N m s/rad, viscous
    joint_friction: float = 0.0  # N m, MuJoCo frictionloss
    gravity_compensation: bool = True  # nominal model's gravity, through the actuators
    effort_limited: bool = True  # clamp drive + compensation to the URDF effort limit
    integrator: str = "implicitfast"  # MuJoCo integrator: implicitfast | implicit | Euler | RK4
    mass_scale: float = 1.0  # [gap] every link's mass and inertia scaled; compensation stays nominal
    fusestatic: bool = False  # keep the flange/hand/TCP as bodies (the TCP is read from its body)

    @classmethod
    def from_task_cfg(cls, task_cfg=None, **overrides) -> "PandaMujocoCfg":
        """Mirror a ``FrankaReachCfg`` (or its dict, as saved in a checkpoint); ``overrides`` win."""
        from ..envs.franka_reach import FrankaReachCfg

        if task_cfg is None:
            task_cfg = FrankaReachCfg()
        get = (lambda k: task_cfg[k]) if isinstance(task_cfg, dict) else (lambda k: getattr(task_cfg, k))
        kw = {k: get(k) for k in ("sim_dt", "decimation", "armature", "joint_damping", "joint_friction",
                                  "gravity_compensation")}
        kw["drive_damping"] = tuple(float(x) for x in get("drive_damping"))
        kw.update(overrides)
        return cls(**kw)

    @property
    def control_dt(self) -> float:
        """s, time between two commands (1/60 s)."""
        return self.sim_dt * self.decimation


def urdf_joint_limits(path: str = PANDA_URDF):
    """Movable joints of a URDF: (names, lower, upper, velocity, effort), read with ElementTree.

    Read here rather than through :mod:`course_lib.sim`, so that the
    deployment side depends on the URDF file alone.
    """
    root = ET.parse(path).getroot()
    names, lo, hi, vel, eff = [], [], [], [], []
    for j in root.findall("joint"):
        if j.get("type") in ("revolute", "prismatic", "continuous"):
            lim = j.find("limit")
            names.append(j.get("name"))
            lo.append(float(lim.get("lower", "-inf")))
            hi.append(float(lim.get("upper", "inf")))
            vel.append(float(lim.get("velocity")))
            eff.append(float(lim.get("effort")))
    return names, np.array(lo), np.array(hi), np.array(vel), np.array(eff)


def build_panda_model(cfg: PandaMujocoCfg | None = None, urdf: str = PANDA_URDF):
    """``mujoco.MjModel`` of the Panda with velocity actuators that mirror the course's drives.

    See the module docstring for what each setting mirrors. Actuator ``j``
    drives joint ``j`` (URDF order); ``ctrl`` is its velocity command, rad/s.
    """
    mujoco = import_mujoco()
    cfg = cfg or PandaMujocoCfg()
    if cfg.mass_scale <= 0:
        raise ValueError(f"mass_scale must be positive, got {cfg.mass_scale}")
    names, _, _, _, effort = urdf_joint_limits(urdf)
    if len(cfg.drive_damping) != len(names):
        raise ValueError(f"drive_damping has {len(cfg.drive_damping)} gains, the URDF has {len(names)} joints")
    spec = mujoco.MjSpec.from_string(urdf_for_mujoco(urdf, fusestatic=cfg.fusestatic))
    spec.option.timestep = float(cfg.sim_dt)
    integrators = {"implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST,
                   "implicit": mujoco.mjtIntegrator.mjINT_IMPLICIT, "Euler": mujoco.mjtIntegrator.mjINT_EULER,
                   "RK4": mujoco.mjtIntegrator.mjINT_RK4}
    if cfg.integrator not in integrators:
        raise ValueError(f"unknown integrator {cfg.integrator!r}; choose one of {sorted(integrators)}")
    spec.option.integrator = integrators[cfg.integrator]
    spec.option.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    joints = {j.name: j for j in spec.joints}
    for name, kv, tau_max in zip(names, cfg.drive_damping, effort):
        j = joints[name]
        j.armature = float(cfg.armature)
        _set_scalar_or_poly(j, "damping", float(cfg.joint_damping))
        j.frictionloss = float(cfg.joint_friction)
        j.actgravcomp = bool(cfg.gravity_compensation)
        # MuJoCo's URDF reader already limits the joint's actuator force to the URDF effort; say it explicitly
        # either way (effort_limited=False lifts it, to compare the engines with no limit reached).
        j.actfrclimited = mujoco.mjtLimited.mjLIMITED_TRUE if cfg.effort_limited else mujoco.mjtLimited.mjLIMITED_FALSE
        j.actfrcrange = [-float(tau_max), float(tau_max)]
        act = spec.add_actuator(name=f"vel_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_velocity(kv=float(kv))
    for b in spec.bodies:
        if b.name == "world":
            continue
        if cfg.mass_scale != 1.0:
            b.mass = b.mass * cfg.mass_scale
            b.inertia = [x * cfg.mass_scale for x in b.inertia]
            b.fullinertia = [x * cfg.mass_scale for x in b.fullinertia]
        # gravcomp g applies -g m gravity at the body's centre of mass: 1 / mass_scale is the nominal mass's
        b.gravcomp = (1.0 / cfg.mass_scale) if cfg.gravity_compensation else 0.0
    return spec.compile()


def _set_scalar_or_poly(obj, name: str, value: float) -> None:
    """Set a joint's damping: a float in MuJoCo 3, a polynomial [linear, quadratic, cubic] in MuJoCo 4."""
    try:
        setattr(obj, name, value)
    except TypeError:
        setattr(obj, name, [value, 0.0, 0.0])


class MujocoPanda:
    """One Panda in MuJoCo, used as a robot is: set a pose, read the state, write velocity commands.

    ``read()`` returns what the robot's sensors would: joint positions (7,)
    rad, joint velocities (7,) rad/s and the TCP position (3,) m from forward
    kinematics of the measured joints. ``command(v)`` sets the velocity
    commands (7,) rad/s; ``step()`` advances one control period
    (``decimation`` MuJoCo steps).
    """

    def __init__(self, model=None, cfg: PandaMujocoCfg | None = None):
        self.mujoco = import_mujoco()
        self.cfg = cfg or PandaMujocoCfg()
        self.model = model if model is not None else build_panda_model(self.cfg)
        self.data = self.mujoco.MjData(self.model)
        self.tcp = self.model.body(TCP_BODY).id if not self.cfg.fusestatic else None
        if self.tcp is None:
            raise ValueError("MujocoPanda reads the TCP from its body: build the model with fusestatic=False")
        self.nu = self.model.nu

    def reset(self, q0) -> None:
        """Joints at ``q0`` (7,) rad, at rest, commands zero."""
        m, d = self.model, self.data
        self.mujoco.mj_resetData(m, d)
        d.qpos[:] = q0
        d.qvel[:] = 0.0
        d.ctrl[:] = 0.0
        self.mujoco.mj_kinematics(m, d)

    def read(self):
        """(q (7,), qd (7,), tcp (3,)) copies, float64."""
        d = self.data
        return d.qpos.copy(), d.qvel.copy(), d.xpos[self.tcp].copy()

    def command(self, velocity) -> None:
        """Velocity commands (7,) rad/s for the next control period."""
        self.data.ctrl[:] = velocity

    def step(self) -> None:
        """One control period: ``decimation`` MuJoCo steps, then the kinematics of the new state."""
        m, d = self.model, self.data
        for _ in range(self.cfg.decimation):
            self.mujoco.mj_step(m, d)
        # mj_step leaves xpos at the pose *before* its integration: recompute it for the new qpos.
        self.mujoco.mj_kinematics(m, d)
