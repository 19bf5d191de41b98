"""Physics of the course's simulator: closed forms, energy, drives, limits, robustness, input checks.

MuJoCo comparisons are in ``test_sim_mujoco.py``; this file needs only torch.
Numbers quoted in comments were measured on a 2-core CPU (torch 2.13).
"""
from __future__ import annotations

import math

import pytest
import torch

from course_lib.sim import GRAVITY, asset_path, load_urdf, parse_urdf

F64, F32 = torch.float64, torch.float32
HOME = (0.0, 0.0, 0.0, -1.5708, 0.0, 1.5708, -0.7853)  # Menagerie's Panda home pose
TASK_DT, TASK_SUBSTEPS = 1.0 / 60.0, 2  # control at 60 Hz, physics at 1/120 s (Isaac Gym cart-pole; Isaac Lab reach)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def panda(n, dtype=F64):
    return load_urdf(asset_path("franka_panda.urdf"), n, dtype=dtype)


def cartpole(n, dtype=F64):
    return load_urdf(asset_path("cartpole.urdf"), n, dtype=dtype)


def home(arm, n=None):
    return torch.tensor(HOME, dtype=arm.dtype).expand(n or arm.num_envs, 7).clone()


def remove_limits(arm):
    arm.lower = torch.full_like(arm.lower, -math.inf)
    arm.upper = torch.full_like(arm.upper, math.inf)


def run(arm, seconds, dt=TASK_DT, substeps=TASK_SUBSTEPS):
    for _ in range(round(seconds / dt)):
        arm.step(dt, substeps)


# ------------------------------------------------------------------ cart-pole closed form
def test_cartpole_matches_closed_form_equations_of_motion():
    """Mass matrix, bias forces, forward dynamics and energy of the cart-pole in closed form.

    q = (x, th): x the cart along +y, th the pole's rotation about +x (the hinge
    is 0.12 m beside the cart centre, along x, which changes nothing below).
    The pole's com, l above the hinge in the pole frame, is at
    Rx(th) (0, 0, l) = (0, -l sin th, l cos th), so in the world
    y = x - l sin th, z = l cos th. Kinetic energy:
        T = 1/2 (mc + mp) xd^2 - mp l cos th xd thd + 1/2 (I + mp l^2) thd^2
    (I: pole inertia about its com, about x), potential V = mp g l cos th.
    Lagrange:
        d/dt dT/dxd   = (mc+mp) xdd - mp l cos th thdd + mp l sin th thd^2
        d/dt dT/dthd - dT/dth = -mp l cos th xdd + (I + mp l^2) thdd
        dV/dth = -mp g l sin th
    so M = [[mc+mp, -mp l cos th], [-mp l cos th, I + mp l^2]] and
    bias = [mp l sin th thd^2, -mp g l sin th].
    """
    mc, mp, l, I, g = 1.0, 1.0, 0.47, 0.08363333333333333, GRAVITY
    n = 1000
    arm = cartpole(n)
    gen = torch.Generator().manual_seed(0)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=gen, dtype=F64)  # noqa: E731
    x, th, xd, thd = u(-4, 4), u(-2 * math.pi, 2 * math.pi), u(-5, 5), u(-10, 10)
    q, qd = torch.stack((x, th), 1), torch.stack((xd, thd), 1)
    tau = torch.stack((u(-400, 400), u(-50, 50)), 1)
    c, s = torch.cos(th), torch.sin(th)
    M = torch.empty(n, 2, 2, dtype=F64)
    M[:, 0, 0] = mc + mp
    M[:, 0, 1] = M[:, 1, 0] = -mp * l * c
    M[:, 1, 1] = I + mp * l * l
    bias = torch.stack((mp * l * s * thd**2, -mp * g * l * s), 1)
    # 2x2 inverse written out: qdd = M^-1 (tau - bias)
    f = tau - bias
    det = M[:, 0, 0] * M[:, 1, 1] - M[:, 0, 1] ** 2
    qdd = torch.stack((M[:, 1, 1] * f[:, 0] - M[:, 0, 1] * f[:, 1],
                       -M[:, 0, 1] * f[:, 0] + M[:, 0, 0] * f[:, 1]), 1) / det[:, None]
    energy = 0.5 * torch.einsum("ni,nij,nj->n", qd, M, qd) + mp * g * l * c

    assert (arm.mass_matrix(q) - M).abs().max() < 1e-10
    assert (arm.bias_forces(q, qd) - bias).abs().max() < 1e-10
    assert (arm.forward_dynamics(q, qd, tau) - qdd).abs().max() < 1e-10
    assert (arm.energy(q, qd) - energy).abs().max() < 1e-10
    assert (arm.inverse_dynamics(q, qd, qdd) - tau).abs().max() < 1e-10

    # And the physics reads right: a pole tipped to +th at rest falls further
    # (thdd > 0) and pushes the cart to +y (xdd > 0).
    one = cartpole(1)
    acc = one.forward_dynamics(torch.tensor([[0.0, 0.1]], dtype=F64), torch.zeros(1, 2, dtype=F64),
                               torch.zeros(1, 2, dtype=F64))
    assert acc[0, 1] > 0 and acc[0, 0] > 0


# ------------------------------------------------------------------------------ energy
def _energy_drift(arm, q0, qd0, dt, seconds=10.0, sample_every=1.0 / 30.0):
    """Free motion: max |E(t) - E(0)| over the run, relative to the largest kinetic energy seen.

    Energy is sampled every ``sample_every`` seconds (the same instants for every
    dt). Relative to kinetic energy, not to E(0): the zero of potential energy is
    arbitrary, and dividing by ~90 J of the arm's height would flatter the result.
    """
    arm.set_state(None, q0, qd0)
    E0 = arm.energy(arm.q, arm.qd)
    zero = torch.zeros_like(arm.qd)
    dev = torch.zeros_like(E0)
    kin = torch.zeros_like(E0)
    every = round(sample_every / dt)
    for k in range(1, round(seconds / dt) + 1):
        arm.physics_step(dt)
        if k % every == 0:
            E = arm.energy(arm.q, arm.qd)
            dev = torch.maximum(dev, (E - E0).abs())
            kin = torch.maximum(kin, E - arm.energy(arm.q, zero))
    assert torch.isfinite(dev).all()
    return float((dev / kin).max()), float(dev.max())


# A rest pose of the free Panda hanging down (all gravity torques < 0.04 N m):
# found by a damped simulation with the joint limits removed, then Newton on
# gravity_forces(q) = 0, rounded to 3 decimals.
HANGING = (0.0, 2.923, -0.024, -0.497, 0.735, 2.404, -0.901)


def test_free_panda_energy_drift_is_small_and_first_order():
    """Free, undamped, undriven Panda with gravity: energy over 10 s at dt = 1/120 and 1/240.

    The integrator is semi-implicit Euler (qd += dt M^-1 (tau - bias); q += dt qd),
    step for step MuJoCo's Euler (test_sim_mujoco.py). It is first order: for a
    constant mass matrix it is symplectic and its energy error stays bounded,
    O(dt); with the configuration-dependent mass matrix of an arm it is not
    exactly symplectic and the error drifts slowly, still O(dt) over a fixed
    time. So the test asserts a bound at the task's dt and that halving dt
    about halves the drift.

    Setup: gravity on; gains, damping, friction, armature zero; joint limits
    removed (a stop would take energy out). The arm starts at its hanging rest
    pose with random joint velocities of up to 0.5 rad/s, which gives task-like
    speeds (up to ~3 rad/s). Started instead from random poses within the
    limits, the free arm falls from its height (~90 J) and its joints reach
    60-160 rad/s (MuJoCo, RK4 at 1/1920 s); semi-implicit Euler then blows up
    at dt = 1/120 and 1/480 (MuJoCo's Euler too) and is still 10-80 J off at
    1/1920: not a test of the physics, but of an integrator far outside its range.

    Measured (relative to the largest kinetic energy, worst of 8 envs):
    0.092 (0.031 J) at 1/120, 0.044 at 1/240 (0.021 at 1/480: first order).
    """
    arm = panda(8)
    remove_limits(arm)
    q0 = torch.tensor(HANGING, dtype=F64).expand(8, 7)
    assert arm.gravity_forces(q0.contiguous()).abs().max() < 0.05  # HANGING is a rest pose
    gen = torch.Generator().manual_seed(0)
    qd0 = (2 * torch.rand(8, 7, generator=gen, dtype=F64) - 1) * 0.5
    drift = {}
    for steps_per_s in (120, 240):
        drift[steps_per_s], _ = _energy_drift(arm, q0, qd0, 1.0 / steps_per_s)
    assert drift[120] < 0.15, drift
    assert drift[240] < 0.6 * drift[120], drift  # first order: ~0.5


def test_free_cartpole_energy_drift_is_small_and_first_order():
    """Cart-pole with no force, no damping, limits removed, from random states (pole anywhere, |qd| <= 1).

    Same integrator and reasoning as the Panda test. The pole swings over the
    top at up to ~8 rad/s here. Measured (relative to the largest kinetic
    energy, worst of 8 envs): 0.18 (1.2 J) at 1/120, 0.096 at 1/240 (0.049 at
    1/480, 0.024 at 1/960: first order).
    """
    arm = cartpole(8)
    remove_limits(arm)
    gen = torch.Generator().manual_seed(0)
    q0 = torch.stack((torch.rand(8, generator=gen, dtype=F64) * 2 - 1,
                      (torch.rand(8, generator=gen, dtype=F64) * 2 - 1) * math.pi), 1)
    qd0 = torch.rand(8, 2, generator=gen, dtype=F64) * 2 - 1
    drift = {}
    for steps_per_s in (120, 240):
        drift[steps_per_s], _ = _energy_drift(arm, q0, qd0, 1.0 / steps_per_s)
    assert drift[120] < 0.3, drift
    assert drift[240] < 0.6 * drift[120], drift


# ------------------------------------------------------------------------------ drives
def test_position_drive_brings_joints_to_target():
    """Stiffness 400 / damping 40 (Isaac Lab's high-PD Panda) with gravity compensation, from home to random targets."""
    arm = panda(4)
    gen = torch.Generator().manual_seed(1)
    lo, hi = arm.lower + 0.2, arm.upper - 0.2
    target = lo + torch.rand(4, 7, generator=gen, dtype=F64) * (hi - lo)
    arm.set_state(None, home(arm))
    arm.pos_target.copy_(target)
    arm.stiffness.fill_(400.0)
    arm.damping.fill_(40.0)
    arm.gravity_compensation = True
    assert (arm.q - target).abs().max() > 0.5
    run(arm, 3.0)
    assert (arm.q - target).abs().max() < 1e-4  # measured 6e-8
    assert arm.qd.abs().max() < 1e-3


def test_position_drive_is_a_spring_against_gravity():
    """Without gravity compensation the drive holds the arm where kp (target - q) = g(q)."""
    arm = panda(4)
    gen = torch.Generator().manual_seed(1)
    lo, hi = arm.lower + 0.2, arm.upper - 0.2
    target = lo + torch.rand(4, 7, generator=gen, dtype=F64) * (hi - lo)
    arm.set_state(None, target)
    arm.pos_target.copy_(target)
    arm.stiffness.fill_(400.0)
    arm.damping.fill_(40.0)
    run(arm, 4.0)
    assert arm.qd.abs().max() < 1e-4
    g = arm.gravity_forces(arm.q)
    assert g.abs().max() > 20.0  # a real load
    assert (400.0 * (target - arm.q) - g).abs().max() < 1e-3  # measured 2e-6 N m


def test_velocity_drive_tracks_target():
    """Joint 1 (vertical axis) under a velocity drive (damping 40, no stiffness) while the others hold."""
    arm = panda(1)
    arm.set_state(None, home(arm))
    arm.pos_target.copy_(arm.q)
    arm.gravity_compensation = True
    arm.stiffness.fill_(400.0)
    arm.damping.fill_(40.0)
    arm.stiffness[:, 0] = 0.0
    arm.vel_target[:, 0] = 0.5
    run(arm, 1.0)
    assert abs(float(arm.qd[0, 0]) - 0.5) < 1e-3  # measured 2e-5
    assert 0.35 < float(arm.q[0, 0]) < 0.5  # ~0.5 rad/s for 1 s, less the spin-up
    arm.vel_target[:, 0] = -0.3  # and it follows a new target
    run(arm, 1.0)
    assert abs(float(arm.qd[0, 0]) + 0.3) < 1e-3


def test_effort_limit_caps_the_steady_torque():
    """A stiff drive asked to hold more than its effort limit gives exactly the limit, and sags.

    Joint 2 (shoulder) holds the arm leaning forward (q2 = 1.2 rad), where gravity
    needs ~45 N m; env 0 limits it to 40 N m, env 1 keeps the Panda's 87 N m. At
    rest the drive's torque equals the gravity torque g(q): env 0 settles where
    |g2(q)| = 40 (leaning further makes the load smaller, so that pose is stable).
    Joint damping (passive, outside the drive) lets it settle: a saturated drive
    gives a constant torque and no damping.
    """
    arm = panda(2)
    target = home(arm)
    target[:, 1] = 1.2
    arm.set_state(None, target)
    arm.pos_target.copy_(target)
    arm.stiffness.fill_(1000.0)
    arm.damping.fill_(100.0)
    arm.joint_damping.fill_(10.0)
    arm.effort_limit[0, 1] = 40.0
    assert arm.gravity_forces(target)[0, 1].abs() > 44.0  # more than the limit
    run(arm, 6.0)
    assert arm.qd.abs().max() < 1e-4  # measured 1e-6
    tau = arm.gravity_forces(arm.q)  # = the drive torque at rest
    assert (tau.abs() <= arm.effort_limit * (1 + 1e-6)).all()
    assert abs(float(tau[0, 1].abs()) - 40.0) < 0.01  # saturated at the limit (measured 40.00002)
    assert float(arm.q[0, 1]) > 1.3  # sagged (~1.4)
    assert (arm.q[1] - target[1]).abs().max() < 0.06  # the unlimited env holds (error g / kp)


def test_gravity_compensation_uses_the_nominal_model():
    """Gravity compensation from the URDF's masses: exact for the nominal arm, a real sag for a heavier one.

    Central to domain randomization: env 0 gets a heavier wrist and hand, env 1 a
    heavier link 4, env 2 is nominal. Env 0 is the one the nominal model is
    copied from at construction, so this also checks that randomizing env 0
    does not change the nominal model. With drive stiffness kp the heavier
    arms settle where kp (target - q) = g_true(q) - g_nominal(q).
    """
    arm = panda(3)
    q0 = home(arm)
    arm.set_state(None, q0)
    arm.pos_target.copy_(q0)
    arm.gravity_compensation = True
    m = lambda link: float(arm.link_mass[0, arm.link_index(link)])  # noqa: E731
    arm.set_link_masses([0], [[2 * m("panda_link7"), 2 * m("panda_hand")]], links=["panda_link7", "panda_hand"])
    arm.set_link_masses([1], [[1.5 * m("panda_link4")]], links=["panda_link4"])
    kp = 80.0  # Isaac Lab's Panda stiffness
    arm.stiffness.fill_(kp)
    arm.damping.fill_(20.0)
    run(arm, 4.0)
    err = (arm.q - q0).abs().max(1).values
    assert err[2] < 1e-9 and arm.qd[2].abs().max() < 1e-9  # nominal: holds still (measured 0)
    assert err[0] > 0.05 and err[1] > 0.02  # heavier: real tracking error (~0.1 rad)
    nominal = panda(3)
    dg = arm.gravity_forces(arm.q) - nominal.gravity_forces(arm.q)
    assert arm.qd[:2].abs().max() < 1e-4
    assert (kp * (q0 - arm.q) - dg)[:2].abs().max() < 1e-3

    # Without any drive, the nominal arm floats in place (float32, as in training).
    free = panda(2, F32)
    free.set_state(None, home(free))
    free.gravity_compensation = True
    run(free, 2.0)
    assert (free.q - home(free)).abs().max() < 1e-5
    free.gravity_compensation = False
    run(free, 0.5)
    assert (free.q - home(free)).abs().max() > 0.1  # and it falls without


# -------------------------------------------------------------------------- joint limits
def test_hard_joint_limits_hold():
    """Joints pushed into their stops stay within [lower, upper] and have no velocity into the stop.

    Panda joint 4 pushed both ways with 30 N m (others held), cart pushed both ways with 50 N.
    """
    arm = panda(2)
    q0 = home(arm)
    arm.set_state(None, q0)
    arm.pos_target.copy_(q0)
    arm.stiffness.fill_(400.0)
    arm.damping.fill_(40.0)
    arm.stiffness[:, 3] = arm.damping[:, 3] = 0.0
    arm.gravity_compensation = True
    arm.effort[:, 3] = torch.tensor([30.0, -30.0], dtype=F64)

    cp = cartpole(2)
    cp.set_state(None, torch.tensor([[0.0, math.pi], [0.0, math.pi]], dtype=F64))  # pole hanging
    cp.effort[:, 0] = torch.tensor([50.0, -50.0], dtype=F64)

    for a in (arm, cp):
        for _ in range(360):  # 3 s at 1/120
            a.physics_step(1.0 / 120.0)
            assert ((a.q >= a.lower) & (a.q <= a.upper)).all()
            assert (a.qd[a.q == a.upper] <= 0).all() and (a.qd[a.q == a.lower] >= 0).all()
    j = 3
    assert float(arm.q[0, j]) == float(arm.upper[j]) and float(arm.q[1, j]) == float(arm.lower[j])
    assert float(arm.qd[0, j]) == 0.0 and float(arm.qd[1, j]) == 0.0
    assert cp.q[:, 0].tolist() == [4.0, -4.0] and cp.qd[:, 0].tolist() == [0.0, 0.0]


def test_a_joint_resting_on_its_stop_does_not_pump_energy_into_the_others():
    """Cart pressed against its stop (x = 4) with 100 N; the pole swings freely on it.

    The cart stays on the stop (the pole's pull, at most mp l thd^2 ~ 6 N here,
    is far below 100 N), so the pole is a plain pendulum and its energy
    1/2 (I + mp l^2) thd^2 + mp g l cos th must stay put, up to the integrator's
    O(dt) error (about 0.13 J of 5 J when the stop is modelled as a constraint).
    """
    mp, l, I = 1.0, 0.47, 0.08363333333333333
    arm = cartpole(1)
    arm.set_state(None, torch.tensor([[4.0, 0.3]], dtype=F64), torch.tensor([[0.0, 2.0]], dtype=F64))
    arm.effort[:, 0] = 100.0

    def pole_energy():
        th, thd = float(arm.q[0, 1]), float(arm.qd[0, 1])
        return 0.5 * (I + mp * l * l) * thd * thd + mp * GRAVITY * l * math.cos(th)

    E0, worst = pole_energy(), 0.0
    for _ in range(600):  # 5 s at 1/120
        arm.physics_step(1.0 / 120.0)
        worst = max(worst, abs(pole_energy() - E0))
        assert float(arm.q[0, 0]) == 4.0  # pinned
    assert worst < 0.5, f"pole energy changed by {worst:.2f} J (of {E0:.2f} J) while the cart sat on its stop"


# ------------------------------------------------------------------------- robustness
def _random_rollout(name, n, control_steps, seed, task_like=True, dtype=F32):
    """Random states within the limits and random actions every control step; returns the articulation and flags.

    task_like: Panda with random drive gains, targets, efforts and randomized
    masses/damping/friction/armature and gravity compensation (the reach
    task's knobs); cart-pole with the task's action, a cart force within
    +-400 N. Otherwise: no drives, and efforts anywhere within the URDF's
    effort limits on every joint ("any action").
    """
    arm = load_urdf(asset_path(name), n, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    D = arm.num_dofs
    u = lambda *shape: torch.rand(*shape, generator=gen, dtype=dtype)  # noqa: E731
    lo = torch.where(torch.isinf(arm.lower), torch.full_like(arm.lower, -math.pi), arm.lower)
    hi = torch.where(torch.isinf(arm.upper), torch.full_like(arm.upper, math.pi), arm.upper)
    vmax = torch.clamp(arm.velocity_limit_urdf, max=10.0)
    arm.set_state(None, lo + u(n, D) * (hi - lo), (2 * u(n, D) - 1) * vmax)
    effort_range = arm.effort_limit_urdf.clone()
    if task_like:
        arm.set_link_masses(None, arm.link_mass * (0.5 + u(n, len(arm.link_names))))
        arm.joint_damping.copy_(u(n, D) * 2.0)
        arm.joint_friction.copy_(u(n, D) * 0.5)
        arm.armature.copy_(u(n, D) * 0.2)
        if name == "franka_panda.urdf":
            arm.stiffness.copy_(40.0 + u(n, D) * 360.0)
            arm.damping.copy_(4.0 + u(n, D) * 76.0)
            arm.gravity_compensation = True
        else:
            effort_range = torch.tensor([400.0, 0.0], dtype=dtype)
    finite = torch.ones(n, dtype=torch.bool)
    within = torch.ones(n, dtype=torch.bool)
    for _ in range(control_steps):
        arm.pos_target.copy_(lo + u(n, D) * (hi - lo))
        arm.vel_target.copy_((2 * u(n, D) - 1) * vmax)
        arm.effort.copy_((2 * u(n, D) - 1) * effort_range)
        arm.step(TASK_DT, TASK_SUBSTEPS)
        finite &= torch.isfinite(arm.q).all(1) & torch.isfinite(arm.qd).all(1)
        within &= ((arm.q >= arm.lower) & (arm.q <= arm.upper)).all(1)
    return arm, finite, within


@pytest.mark.parametrize("name", ["franka_panda.urdf", "cartpole.urdf"])
def test_no_nan_over_long_random_task_rollouts(name):
    """256 envs x 1500 control steps (3000 physics steps of 1/120 s, 25 s), float32, random everything."""
    _, finite, within = _random_rollout(name, 256, 1500, seed=0)
    assert finite.all(), f"{int((~finite).sum())} of 256 envs reached NaN/inf"
    assert within.all()


@pytest.mark.parametrize("name", ["franka_panda.urdf", "cartpole.urdf"])
def test_no_nan_for_any_effort_within_the_limits(name):
    """No drives, random efforts within the URDF effort limits on every joint: 256 envs x 300 control steps.

    DESIGN.md: no NaN or inf for any state within limits and any action.
    """
    _, finite, within = _random_rollout(name, 256, 300, seed=0, task_like=False)
    assert finite.all(), f"{int((~finite).sum())} of 256 envs reached NaN/inf"
    assert within.all()


def test_same_seed_gives_bit_identical_rollouts():
    for name in ("franka_panda.urdf", "cartpole.urdf"):
        a, _, _ = _random_rollout(name, 64, 50, seed=3)
        b, _, _ = _random_rollout(name, 64, 50, seed=3)
        c, _, _ = _random_rollout(name, 64, 50, seed=4)
        assert torch.equal(a.q, b.q) and torch.equal(a.qd, b.qd)
        assert not torch.equal(a.q, c.q)


# ------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_helpful_errors():
    arm = panda(4)
    q = home(arm)
    with pytest.raises(ValueError, match=r"q must have shape \(num_envs, num_dofs\) = \(4, 7\), got \(4, 6\)"):
        arm.forward_kinematics(q[:, :6])
    with pytest.raises(ValueError, match=r"qd must have shape .* got \(7,\)"):
        arm.bias_forces(q, q[0])
    with pytest.raises(ValueError, match=r"q has dtype torch.float32, expected torch.float64"):
        arm.mass_matrix(q.float())
    with pytest.raises(ValueError, match=r"q is on meta but the articulation is on cpu"):
        arm.mass_matrix(torch.zeros(4, 7, dtype=F64, device="meta"))
    with pytest.raises(ValueError, match=r"unknown link 'panda_gripper'; links are \["):
        arm.jacobian(q, "panda_gripper")
    with pytest.raises(ValueError, match="unknown link"):
        arm.set_link_masses([0], [[1.0]], links=["panda_gripper"])
    with pytest.raises(ValueError, match=r"joint positions must have shape \(2, 7\)"):
        arm.set_state([0, 1], torch.zeros(3, 7))
    with pytest.raises(ValueError, match="num_envs must be at least 1"):
        panda(0)


def test_missing_files_raise_file_not_found():
    with pytest.raises(FileNotFoundError, match=r"no asset named 'franka.urdf'; shipped assets: \[.*franka_panda.urdf"):
        asset_path("franka.urdf")
    with pytest.raises(FileNotFoundError, match="URDF file not found"):
        load_urdf("/nonexistent/robot.urdf", 1)


def test_unsupported_urdf_is_a_clear_error():
    floating = """<robot name="r"><link name="a"/><link name="b"/>
        <joint name="j" type="floating"><parent link="a"/><child link="b"/></joint></robot>"""
    with pytest.raises(ValueError, match="joint 'j' has type 'floating'; supported"):
        parse_urdf(floating)


def test_set_state_clamps_positions_outside_the_limits_with_a_warning():
    arm = panda(2)
    q = home(arm)
    q[1, 3] = 0.5  # joint 4 must stay below -0.0698 (the chapter's torch.rand(...) * 0.5 pitfall)
    with pytest.warns(UserWarning, match=r"panda_joint4.*clamped"):
        arm.set_state(None, q)
    assert float(arm.q[1, 3]) == float(arm.upper[3])
    assert torch.equal(arm.q[0], q[0])
