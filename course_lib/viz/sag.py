"""Chapter 5's sag demo: the Panda holding its home pose with wrong link masses, and its plot.

    >>> from course_lib.viz.sag import plot_sag_demo, sag_demo
    >>> demo = sag_demo(mass_scales=(1.0, 1.3, 0.7))
    >>> print(demo.table()); plot_sag_demo(demo)

(The chapter 5 notebooks import both from ``course_lib.envs.randomization``, where they were first written;
that name still works.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..sim import asset_path, load_urdf
from ..sim.panda import PANDA_DRIVE_DAMPING, PANDA_HOME

__all__ = ["sag_demo", "SagDemo", "plot_sag_demo"]


@dataclass
class SagDemo:
    """Data of :func:`sag_demo` (S mass scales, T samples, D joints); lengths in m, time in s."""

    t: torch.Tensor  # (T,)
    mass_scales: torch.Tensor  # (S,)
    tcp_height: torch.Tensor  # (S, T) TCP z
    tcp_drop: torch.Tensor  # (S, T) TCP z minus its start (negative: sagging)
    tcp_error: torch.Tensor  # (S, T) distance of the TCP from where it started
    joint_error: torch.Tensor  # (S, T, D) q - home
    static_error: torch.Tensor  # (S,) TCP error at the static equilibrium (NaN: none, velocity drive)
    static_drop: torch.Tensor  # (S,) TCP z change at the static equilibrium
    peak_error: torch.Tensor  # (S,) largest TCP error over the run
    overshoot: torch.Tensor  # (S,) peak_error / static_error - 1 (0.5: 50% past the final sag)
    drive: str = "position"
    stiffness: float = 0.0
    damping: float = 0.0

    def table(self) -> str:
        rows = ["mass scale | static TCP error (mm) | static drop (mm) | peak error (mm) | overshoot"]
        for i in range(len(self.mass_scales)):
            rows.append(f"{float(self.mass_scales[i]):10.2f} | {1000 * float(self.static_error[i]):21.1f} | "
                        f"{1000 * float(self.static_drop[i]):16.1f} | {1000 * float(self.peak_error[i]):15.1f} | "
                        f"{100 * float(self.overshoot[i]):8.0f}%")
        return "\n".join(rows)


def sag_demo(mass_scales=(1.0, 1.3, 0.7), duration: float = 2.0, drive: str = "position",
             stiffness: float = 80.0, damping: float = 4.0, sim_dt: float = 1.0 / 120.0, device="cpu",
             dtype=torch.float64, armature: float = 0.1) -> SagDemo:
    """Hold the Panda's home pose with every link's mass scaled, and record how far the TCP sags.

    One environment per mass scale, all in one batch. The controller is the
    real Panda's: a drive plus gravity compensation computed from the
    *nominal* model. With the nominal masses it holds the pose exactly; a
    heavier arm is pulled down by the weight the controller does not know
    about until the drive's spring balances it (``drive="position"``:
    stiffness ``stiffness`` N m/rad, damping ``damping`` N m s/rad; Isaac
    Lab's Franka uses 80 / 4), and overshoots on the way, since the drive is
    lightly damped; a lighter arm rises. ``drive="velocity"`` uses the reach
    task's velocity drives with a zero velocity command: there is no spring,
    so a wrong mass gives a steady *drift* (``static_*`` are NaN).

    The static equilibrium (``static_error``) solves ``g_true(q) = g_nominal(q)
    + kp (home - q)`` by fixed-point iteration, so it does not depend on
    ``duration``.
    """
    if drive not in ("position", "velocity"):
        raise ValueError(f"drive must be 'position' or 'velocity', got {drive!r}")
    scales = torch.as_tensor(mass_scales, dtype=dtype, device=device).reshape(-1)
    S = len(scales)
    robot = load_urdf(asset_path("franka_panda.urdf"), S, device=device, dtype=dtype)
    nominal = load_urdf(asset_path("franka_panda.urdf"), S, device=device, dtype=dtype)
    robot.set_link_masses(None, robot.link_mass * scales[:, None])
    robot.gravity_compensation = True
    robot.armature.fill_(armature)
    robot.joint_damping.zero_()
    robot.joint_friction.zero_()
    if drive == "position":
        robot.stiffness.fill_(stiffness)
        robot.damping.fill_(damping)
    else:
        stiffness = 0.0
        robot.stiffness.zero_()
        kd = torch.tensor(PANDA_DRIVE_DAMPING, dtype=dtype, device=device)
        robot.damping.copy_(kd.expand(S, -1))
        damping = float("nan")
    home = torch.tensor(PANDA_HOME, dtype=dtype, device=device).expand(S, -1).contiguous()
    robot.set_state(None, q=home, qd=torch.zeros_like(home))
    robot.pos_target.copy_(home)
    robot.vel_target.zero_()
    tcp = robot.link_index("panda_hand_tcp")
    p0 = robot.forward_kinematics(robot.q)[0][:, tcp].clone()
    steps = int(round(duration / sim_dt))
    pos, qs = [], []
    for _ in range(steps):
        robot.physics_step(sim_dt)
        pos.append(robot.forward_kinematics(robot.q)[0][:, tcp])
        qs.append(robot.q.clone())
    P = torch.stack(pos, 1)  # (S, T, 3)
    Q = torch.stack(qs, 1)
    t = torch.arange(1, steps + 1, dtype=dtype, device=device) * sim_dt
    err = torch.linalg.vector_norm(P - p0[:, None], dim=-1)
    if drive == "position":
        q = home.clone()
        for _ in range(200):
            q = home - (robot.gravity_forces(q) - nominal.gravity_forces(q)) / stiffness
            q = torch.maximum(torch.minimum(q, robot.upper), robot.lower)
        pe = robot.forward_kinematics(q)[0][:, tcp]
        static_error = torch.linalg.vector_norm(pe - p0, dim=-1)
        static_drop = pe[:, 2] - p0[:, 2]
    else:
        static_error = torch.full((S,), float("nan"), dtype=dtype, device=device)
        static_drop = static_error.clone()
    peak = err.max(1).values
    overshoot = torch.where(static_error > 1e-6, peak / static_error.clamp_min(1e-12) - 1.0,
                            torch.zeros_like(peak))
    return SagDemo(t=t, mass_scales=scales, tcp_height=P[..., 2], tcp_drop=P[..., 2] - p0[:, None, 2],
                   tcp_error=err, joint_error=Q - home[:, None], static_error=static_error,
                   static_drop=static_drop, peak_error=peak, overshoot=overshoot, drive=drive,
                   stiffness=float(stiffness), damping=float(damping))


def plot_sag_demo(demo: SagDemo, ax=None):
    """Plot the TCP's height change over time for each mass scale, with the static sag dashed."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    t = demo.t.cpu().numpy()
    for i in range(len(demo.mass_scales)):
        line, = ax.plot(t, 1000 * demo.tcp_drop[i].cpu().numpy(), label=f"masses x {float(demo.mass_scales[i]):.2f}")
        if math.isfinite(float(demo.static_drop[i])):
            ax.axhline(1000 * float(demo.static_drop[i]), color=line.get_color(), ls="--", lw=0.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("TCP height change (mm)")
    gains = (f"kp {demo.stiffness:g}, kd {demo.damping:g}" if demo.drive == "position"
             else "velocity drive, zero command")
    ax.set_title(f"Holding the home pose, nominal gravity compensation\n({gains})")
    ax.legend()
    return ax
