"""The course's simulator against MuJoCo, the reference engine, on the same URDF files.

Each robot is loaded twice from one file: into :class:`course_lib.sim.Articulation`
(float64, one environment per random state, all states in one batched call) and
into MuJoCo through :mod:`course_lib.sim.mujoco_bridge` (one state at a time in a
Python loop). MuJoCo's constraints are disabled, so ``qacc`` is the rigid-body
forward dynamics ``M^-1 (qfrc_applied - qfrc_bias)`` that
:meth:`Articulation.forward_dynamics` computes.

DESIGN.md, "Validation that must hold": link poses, mass matrix, bias forces and
forward dynamics equal MuJoCo's at random states, float64, to 1e-9.
"""
from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch

from course_lib.sim import asset_path, load_urdf
from course_lib.sim.mujoco_bridge import mujoco_full_mass_matrix, mujoco_model_from_urdf

mujoco = pytest.importorskip("mujoco")

ROBOTS = ["franka_panda.urdf", "cartpole.urdf"]
NUM_STATES = 1000
TOL = 1e-9
F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _random_states(arm, n, seed):
    """q uniform within the limits (continuous joints: +-2 pi), qd, tau, qdd random."""
    g = torch.Generator().manual_seed(seed)
    lo = torch.where(torch.isinf(arm.lower), torch.full_like(arm.lower, -2 * math.pi), arm.lower)
    hi = torch.where(torch.isinf(arm.upper), torch.full_like(arm.upper, 2 * math.pi), arm.upper)
    u = lambda: torch.rand(n, arm.num_dofs, generator=g, dtype=F64)  # noqa: E731
    q = lo + u() * (hi - lo)
    qd = (2 * u() - 1) * 3.0  # rad/s or m/s
    tau = (2 * u() - 1) * torch.clamp(arm.effort_limit_urdf, max=100.0)
    qdd = (2 * u() - 1) * 20.0
    return q, qd, tau, qdd


def _mujoco(name):
    m = mujoco_model_from_urdf(asset_path(name))
    m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONSTRAINT  # no joint limits, no contacts
    return m, mujoco.MjData(m)


def _set(d, q, qd, tau=None):
    d.qpos[:] = q
    d.qvel[:] = qd
    d.qfrc_applied[:] = 0.0 if tau is None else tau


def compute_both(name):
    """Everything both engines compute at NUM_STATES random states, for one robot."""
    arm = load_urdf(asset_path(name), NUM_STATES, dtype=F64)
    q, qd, tau, qdd = _random_states(arm, NUM_STATES, seed=1234)
    m, d = _mujoco(name)
    bodies = [m.body(i).name for i in range(1, m.nbody)]  # 0 is MuJoCo's world
    ours = dict(zip(("pos", "rot"), arm.forward_kinematics(q)))
    ours["M"] = arm.mass_matrix(q)
    ours["bias"] = arm.bias_forces(q, qd)
    ours["qacc"] = arm.forward_dynamics(q, qd, tau)
    ours["inverse"] = arm.inverse_dynamics(q, qd, qdd)
    ours["energy"] = arm.energy(q, qd)
    ours["jac"] = {b: arm.jacobian(q, b) for b in bodies}
    theirs = {k: [] for k in ("pos", "rot", "M", "bias", "qacc", "inverse", "energy", "jacp", "jacr")}
    m.opt.enableflags |= mujoco.mjtEnableBit.mjENBL_ENERGY
    jacp, jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
    for i in range(NUM_STATES):
        _set(d, q[i].numpy(), qd[i].numpy(), tau[i].numpy())
        mujoco.mj_forward(m, d)
        theirs["pos"].append(d.xpos[1:].copy())
        theirs["rot"].append(d.xmat[1:].reshape(-1, 3, 3).copy())
        theirs["M"].append(mujoco_full_mass_matrix(m, d))
        theirs["bias"].append(d.qfrc_bias.copy())
        theirs["qacc"].append(d.qacc.copy())
        theirs["energy"].append(d.energy.sum())  # potential (sum m g z_com) + kinetic
        jp, jr = [], []
        for b in range(1, m.nbody):
            mujoco.mj_jacBody(m, d, jacp, jacr, b)  # at the body frame origin, world axes
            jp.append(jacp.copy())
            jr.append(jacr.copy())
        theirs["jacp"].append(jp)
        theirs["jacr"].append(jr)
        d.qacc[:] = qdd[i].numpy()
        mujoco.mj_inverse(m, d)
        theirs["inverse"].append(d.qfrc_inverse.copy())
    theirs = {k: np.asarray(v) for k, v in theirs.items()}
    return dict(name=name, arm=arm, bodies=bodies, q=q, qd=qd, tau=tau, qdd=qdd, ours=ours, theirs=theirs)


@pytest.fixture(scope="module", params=ROBOTS)
def robot(request):
    return compute_both(request.param)


def _maxerr(a, b):
    a = a.numpy() if torch.is_tensor(a) else np.asarray(a)
    return float(np.max(np.abs(a - b)))


def test_same_bodies_as_mujoco(robot):
    """MuJoCo keeps one body per URDF link (fusestatic off), named as the link."""
    assert sorted(robot["bodies"]) == sorted(robot["arm"].link_names)
    if robot["name"] == "franka_panda.urdf":
        assert {"panda_link8", "panda_hand", "panda_hand_tcp"} <= set(robot["bodies"])


def test_link_poses_match_mujoco(robot):
    """Position and rotation matrix of every body, fixed flange/hand/TCP frames included."""
    arm, ours, theirs = robot["arm"], robot["ours"], robot["theirs"]
    idx = [arm.link_index(b) for b in robot["bodies"]]
    assert _maxerr(ours["pos"][:, idx], theirs["pos"]) < TOL
    assert _maxerr(ours["rot"][:, idx], theirs["rot"]) < TOL


def test_mass_matrix_matches_mujoco(robot):
    assert _maxerr(robot["ours"]["M"], robot["theirs"]["M"]) < TOL


def test_bias_forces_match_mujoco(robot):
    """Coriolis, centrifugal and gravity forces: MuJoCo's qfrc_bias."""
    assert _maxerr(robot["ours"]["bias"], robot["theirs"]["bias"]) < TOL


def test_forward_dynamics_matches_mujoco(robot):
    """qacc under qfrc_applied = tau, constraints off.

    Relative bound: accelerations reach ~5000 rad/s^2 (12 N m on the Panda's
    light wrist), and solving M qacc = f loses about cond(M) * eps * |qacc| in
    either engine, so the error scales with the size of qacc (measured: abs
    1.6e-10 with |qacc| up to 6.4e3; relative to max(1, max_j |qacc_j|) of
    its state, 1.6e-13).
    """
    ours, theirs = robot["ours"]["qacc"].numpy(), robot["theirs"]["qacc"]
    scale = np.maximum(1.0, np.abs(theirs).max(axis=1, keepdims=True))  # per state
    assert np.max(np.abs(ours - theirs) / scale) < TOL
    assert np.abs(theirs).max() > 100.0  # the states do exercise large accelerations


def test_inverse_dynamics_matches_mujoco(robot):
    """inverse_dynamics(q, qd, qdd) == MuJoCo's mj_inverse qfrc_inverse (no passive forces here)."""
    assert _maxerr(robot["ours"]["inverse"], robot["theirs"]["inverse"]) < TOL


def test_inverse_forward_round_trip(robot):
    """inverse_dynamics(forward_dynamics(tau)) gives tau back."""
    arm, q, qd, tau = robot["arm"], robot["q"], robot["qd"], robot["tau"]
    back = arm.inverse_dynamics(q, qd, robot["ours"]["qacc"])
    assert _maxerr(back, tau.numpy()) < TOL


def test_jacobian_matches_mujoco(robot):
    """Geometric Jacobian at every body origin (TCP included) against mj_jacBody: linear rows first."""
    arm, theirs = robot["arm"], robot["theirs"]
    for k, body in enumerate(robot["bodies"]):
        J = robot["ours"]["jac"][body]
        assert _maxerr(J[:, :3], theirs["jacp"][:, k]) < TOL, body
        assert _maxerr(J[:, 3:], theirs["jacr"][:, k]) < TOL, body
    tip = "panda_hand_tcp" if robot["name"] == "franka_panda.urdf" else "pole"
    assert np.abs(theirs["jacp"][:, robot["bodies"].index(tip)]).max() > 0.1  # not trivially zero
    with pytest.raises(ValueError, match="unknown link"):
        arm.jacobian(robot["q"], "no_such_link")


def test_energy_matches_mujoco(robot):
    """Kinetic + gravitational potential energy, same zero (world origin) as MuJoCo's."""
    assert _maxerr(robot["ours"]["energy"], robot["theirs"]["energy"]) < TOL


@pytest.mark.parametrize("name", ROBOTS)
def test_randomized_masses_match_mujoco(name):
    """Per-env link masses (domain randomization) give MuJoCo's M and bias for the same masses.

    set_link_masses scales each link's inertia with its mass; in MuJoCo the same
    is body_mass and body_inertia (principal moments) times the same factor.
    """
    n = 200
    arm = load_urdf(asset_path(name), n, dtype=F64)
    q, qd, _, _ = _random_states(arm, n, seed=7)
    g = torch.Generator().manual_seed(8)
    massive = [ln for ln in arm.link_names if float(arm.link_mass[0, arm.link_index(ln)]) > 0]
    nominal = torch.stack([arm.link_mass[0, arm.link_index(ln)] for ln in massive])
    factor = 0.5 + 1.5 * torch.rand(n, len(massive), generator=g, dtype=F64)
    arm.set_link_masses(None, nominal * factor, links=massive)
    M, bias = arm.mass_matrix(q), arm.bias_forces(q, qd)
    m, d = _mujoco(name)
    ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, ln) for ln in massive]
    mass0, inertia0 = m.body_mass.copy(), m.body_inertia.copy()
    errM = errb = 0.0
    for i in range(n):
        for k, b in enumerate(ids):
            m.body_mass[b] = mass0[b] * float(factor[i, k])
            m.body_inertia[b] = inertia0[b] * float(factor[i, k])
        _set(d, q[i].numpy(), qd[i].numpy())
        mujoco.mj_forward(m, d)
        errM = max(errM, _maxerr(M[i], mujoco_full_mass_matrix(m, d)))
        errb = max(errb, _maxerr(bias[i], d.qfrc_bias))
    assert errM < TOL and errb < TOL, (errM, errb)


@pytest.mark.parametrize("name", ROBOTS)
def test_step_matches_mujoco_euler(name):
    """physics_step is MuJoCo's semi-implicit Euler, step for step.

    MuJoCo's Euler integrator: qvel += dt qacc, then qpos += dt qvel (the new
    velocity), with joint damping implicit ((M + armature + dt D) qacc = f).
    Armature 0.1 and damping 1 are Menagerie's Panda values; efforts are
    random and constant. Joint limits are made infinite on both sides
    (MuJoCo: constraints off) and no drive is used (MuJoCo's actuators are
    explicit, the course's drives implicit, so they differ by design).
    """
    n, dt, steps = 16, 1.0 / 120.0, 60
    arm = load_urdf(asset_path(name), n, dtype=F64)
    q, qd, tau, _ = _random_states(arm, n, seed=11)
    qd = qd / 3.0  # |qd| <= 1: task-like speeds
    tau = tau / 20.0
    arm.lower = torch.full_like(arm.lower, -math.inf)
    arm.upper = torch.full_like(arm.upper, math.inf)
    arm.set_state(None, q, qd)
    arm.effort.copy_(tau)
    arm.armature.fill_(0.1)
    arm.joint_damping.fill_(1.0)
    m, _ = _mujoco(name)
    m.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
    m.opt.timestep = dt
    m.dof_armature[:] = 0.1
    m.dof_damping[:] = 1.0
    datas = []
    for i in range(n):
        d = mujoco.MjData(m)
        _set(d, q[i].numpy(), qd[i].numpy(), tau[i].numpy())
        datas.append(d)
    for _ in range(steps):
        arm.physics_step(dt)
        for d in datas:
            mujoco.mj_step(m, d)
    mj_q = np.stack([d.qpos for d in datas])
    mj_qd = np.stack([d.qvel for d in datas])
    assert _maxerr(arm.q, mj_q) < TOL  # measured 3e-15 after 60 steps
    assert _maxerr(arm.qd, mj_qd) < TOL
    assert np.abs(mj_q - q.numpy()).max() > 0.1  # it did move


# ------------------------------------------------------------- the bridge itself
def test_bridge_keeps_fixed_links_unless_fusestatic():
    m = mujoco_model_from_urdf(asset_path("franka_panda.urdf"))
    assert m.nbody == 12 and m.nv == 7
    fused = mujoco_model_from_urdf(asset_path("franka_panda.urdf"), fusestatic=True)
    assert fused.nbody < m.nbody and fused.nv == 7
    assert m.ngeom == 0  # visual geometry discarded
    np.testing.assert_allclose(m.opt.gravity, [0.0, 0.0, -9.81])


def test_bridge_accepts_urdf_text_and_reports_missing_file(tmp_path):
    text = open(asset_path("cartpole.urdf")).read()
    m = mujoco_model_from_urdf(text)
    assert [m.body(i).name for i in range(m.nbody)] == ["world", "slider", "cart", "pole"]
    with pytest.raises(FileNotFoundError, match="not found"):
        mujoco_model_from_urdf(str(tmp_path / "missing.urdf"))


def test_bridge_full_mass_matrix_falls_back_to_mujoco3_signature(monkeypatch):
    """MuJoCo 3.x spells the call mj_fullM(m, dst, d.qM); the helper must use it there."""
    m, d = _mujoco("cartpole.urdf")
    mujoco.mj_forward(m, d)
    expected = mujoco_full_mass_matrix(m, d)
    real = mujoco.mj_fullM
    d3 = types.SimpleNamespace(qM="sparse M")  # a 3.x MjData has qM (4.x dropped it)

    def fullM_v3(model, dst, qM):  # 3.x signature: MjData in 2nd place is a TypeError there
        if not isinstance(dst, np.ndarray):
            raise TypeError("mj_fullM(): incompatible function arguments")
        assert qM == "sparse M"
        real(model, d, dst)

    monkeypatch.setattr(mujoco, "mj_fullM", fullM_v3)
    np.testing.assert_array_equal(mujoco_full_mass_matrix(m, d3), expected)


def test_bridge_says_how_to_install_mujoco(monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco", None)  # makes `import mujoco` fail
    with pytest.raises(ImportError, match="pip install mujoco"):
        mujoco_model_from_urdf(asset_path("cartpole.urdf"))
