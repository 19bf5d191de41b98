"""Deployment to MuJoCo: the MuJoCo Panda mirrors the reach task's drives (first steps agree with the
course's simulator), the loop runs the same episodes as course_lib.evaluate, a known controller gives
the same outcomes in both simulators, the gap options do what they say, and latency is measured."""
import math

import numpy as np
import pytest
import torch

import course_lib
from course_lib.envs.franka_reach import PANDA_HOME, FrankaReachCfg, configure_panda
from course_lib.rl.policy import Policy
from course_lib.sim import asset_path, load_urdf

mujoco = pytest.importorskip("mujoco")
from course_lib.deploy import (MujocoPanda, PandaMujocoCfg, ReachDeployCfg, build_panda_model,  # noqa: E402
                               deploy, inference_latency, reach_episodes, urdf_joint_limits)

torch.set_num_threads(1)
_, LOWER, UPPER, VMAX, EFFORT = urdf_joint_limits()


def test_model_mirrors_the_task_config():
    """The MuJoCo model has the task's timestep, one velocity actuator per joint with kv = drive_damping,
    armature, nominal gravity compensation through the actuators, the URDF's effort limits; a mass
    scale scales masses and inertias and keeps the compensation nominal."""
    c = FrankaReachCfg()
    m = build_panda_model(PandaMujocoCfg.from_task_cfg(c))
    assert m.opt.timestep == c.sim_dt and m.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    assert m.nu == 7 and m.actuator_trnid[:, 0].tolist() == list(range(7))
    np.testing.assert_array_equal(m.actuator_gainprm[:, 0], c.drive_damping)
    np.testing.assert_array_equal(m.actuator_biasprm[:, 2], -np.array(c.drive_damping))
    np.testing.assert_array_equal(m.dof_armature, c.armature)
    assert m.jnt_actgravcomp.all() and m.jnt_actfrclimited.all()
    np.testing.assert_array_equal(m.jnt_actfrcrange[:, 1], EFFORT)
    np.testing.assert_array_equal(m.body_gravcomp[1:], 1.0)
    heavy = build_panda_model(PandaMujocoCfg(mass_scale=1.5))
    moving = m.body_mass > 0
    np.testing.assert_allclose(heavy.body_mass[moving] / m.body_mass[moving], 1.5, rtol=1e-12)
    np.testing.assert_allclose(heavy.body_inertia[moving] / m.body_inertia[moving], 1.5, rtol=1e-12)
    np.testing.assert_allclose(heavy.body_gravcomp[1:], 1 / 1.5, rtol=1e-12)
    assert ReachDeployCfg.mirror().robot.control_dt == pytest.approx(1 / 60)
    with pytest.raises(ValueError, match="mass_scale must be positive"):
        build_panda_model(PandaMujocoCfg(mass_scale=0))


def _task_start(n=8, seed=3):
    """Initial poses of the reach task (float64) and random commands in [-1, 1] per control step."""
    q0, _ = reach_episodes(n, seed)
    rng = np.random.default_rng(seed)
    return q0, rng.uniform(-1.0, 1.0, (20, n, 7))


def _mujoco_run(q0, actions, **cfg):
    robots = [MujocoPanda(cfg=PandaMujocoCfg(**cfg)) for _ in q0]
    for r, q in zip(robots, q0):
        r.reset(q)
    out = []
    for a in actions:
        for r, ai in zip(robots, a):
            r.command(np.clip(ai, -1, 1) * VMAX)
            r.step()
        out.append(np.stack([np.concatenate(r.read()) for r in robots]))
    return np.stack(out)  # (T, N, 17): q, qd, tcp


def test_first_steps_agree_with_the_course_simulator_float64():
    """Same state, same commands, effort limits lifted in both: 20 control steps (1/3 s) of full-scale
    random commands agree to 1e-9 between MuJoCo and the course's articulation (float64): the same
    rigid-body dynamics, drive, armature, gravity compensation and semi-implicit integration. (Only
    rounding differs; measured ~1e-15.)"""
    q0, actions = _task_start()
    art = load_urdf(asset_path("franka_panda.urdf"), len(q0), dtype=torch.float64)
    configure_panda(art, FrankaReachCfg())
    art.effort_limit.fill_(1e9)
    art.set_state(None, q=torch.as_tensor(q0), qd=torch.zeros_like(art.qd))
    c = FrankaReachCfg()
    ours = []
    for a in actions:
        art.vel_target.copy_(torch.as_tensor(a).clamp(-1, 1) * art.velocity_limit)
        art.step(c.sim_dt * c.decimation, c.decimation)
        tcp = art.forward_kinematics(art.q)[0][:, art.link_index("panda_hand_tcp")]
        ours.append(torch.cat((art.q, art.qd, tcp), -1).numpy())
    ours = np.stack(ours)
    mj = _mujoco_run(q0, actions, effort_limited=False)
    assert ((ours[..., :7] > LOWER + 0.01) & (ours[..., :7] < UPPER - 0.01)).all()  # no joint limit reached
    assert np.abs(ours[..., 7:14]).max() > 1.0  # and the arm really moved
    np.testing.assert_allclose(mj, ours, atol=1e-9, rtol=0)


def test_first_steps_agree_with_the_course_task_float32():
    """The task itself (float32, effort limits on) against the MuJoCo loop, commands small enough that no
    effort limit is reached (|a| <= 0.1): 30 control steps (0.5 s) agree to 1e-5 rad, 1e-4 rad/s and
    1e-5 m, i.e. float32 rounding (eps 6e-8) grown over 60 physics steps (measured ~5e-7)."""
    env = course_lib.make("franka_reach", num_envs=8, seed=0)
    q0 = env.get_joint_positions().double().numpy()
    actions = np.random.default_rng(0).uniform(-0.1, 0.1, (30, 8, 7))
    ours = []
    for a in actions:
        env.step(torch.as_tensor(a, dtype=torch.float32))
        ours.append(torch.cat((env.robot.q, env.robot.qd, env.get_end_effector_position()), -1).double().numpy())
    ours = np.stack(ours)
    mj = _mujoco_run(q0, actions)
    np.testing.assert_allclose(mj[..., :7], ours[..., :7], atol=1e-5, rtol=0)
    np.testing.assert_allclose(mj[..., 7:14], ours[..., 7:14], atol=1e-4, rtol=0)
    np.testing.assert_allclose(mj[..., 14:], ours[..., 14:], atol=1e-5, rtol=0)


def test_saturated_commands_differ_as_documented():
    """Where the engines part on purpose: a distal joint commanded from rest at full speed asks for
    20 x 2.61 = 52 N m > 12 N m. MuJoCo clamps the torque to the limit (and integrates that step
    explicitly), the course scales its implicit gain: after one physics step MuJoCo's joint 7 is
    faster, and its torque is exactly the limit."""
    q0 = np.array(PANDA_HOME)
    r = MujocoPanda()
    r.reset(q0)
    r.command(VMAX)
    mujoco.mj_step(r.model, r.data)
    assert r.data.qfrc_actuator[6] == pytest.approx(EFFORT[6])
    art = load_urdf(asset_path("franka_panda.urdf"), 1, dtype=torch.float64)
    configure_panda(art, FrankaReachCfg())
    art.vel_target.copy_(art.velocity_limit)
    art.physics_step(1 / 120)
    assert r.data.qvel[6] > 1.3 * float(art.qd[0, 6])


def _linear_reacher(gain=2.0):
    """A known policy: joint velocities = gain J(home)^T (target - tcp), the Jacobian transpose of the
    TCP at the home pose, as a Policy with no hidden layer (so it exports like a trained one)."""
    r = MujocoPanda()
    r.reset(np.array(PANDA_HOME))
    mujoco.mj_forward(r.model, r.data)
    jac = np.zeros((3, 7))
    mujoco.mj_jacBody(r.model, r.data, jac, None, r.tcp)
    policy = Policy(17, 7, [], "elu", normalize_input=False, task="franka_reach")
    with torch.no_grad():
        policy.mu.weight.zero_()
        policy.mu.bias.zero_()
        policy.mu.weight[:, 14:17] = torch.as_tensor(gain * jac.T, dtype=torch.float32)
    return policy


def test_episodes_are_evaluates_episodes():
    """reach_episodes gives the initial poses and targets that course_lib.evaluate's task starts from:
    read back from the first observation evaluate hands a policy (target = obs[14:17] + TCP, the TCP
    from MuJoCo's kinematics of the same joints)."""
    seen = []

    def spy(obs):
        if not seen:
            seen.append(obs.clone().double().numpy())
        return torch.zeros(obs.shape[0], 7)

    course_lib.evaluate("franka_reach", spy, episodes=6, seed=5, max_episode_length=3)  # draws do not depend on it
    q0, targets = reach_episodes(6, seed=5)
    np.testing.assert_array_equal(seen[0][:, :7], q0)
    r = MujocoPanda()
    tcp = []
    for q in q0:
        r.reset(q)
        tcp.append(r.read()[2])
    np.testing.assert_allclose(seen[0][:, 14:] + np.array(tcp), targets, atol=1e-6)


def test_known_controller_same_outcomes_in_both_simulators(tmp_path):
    """Deployment loop: the linear reacher, exported to ONNX and run by onnxruntime in MuJoCo, succeeds in
    the same episodes as in the course's simulator (its commands stay below the effort limits, where
    the two engines agree), with episode lengths within 2 control steps."""
    from course_lib.rl.export import export_onnx

    policy = _linear_reacher()
    path = export_onnx(policy, tmp_path / "reacher.onnx")
    ours = course_lib.evaluate("franka_reach", policy, episodes=24, seed=0)
    mj = deploy(path, episodes=24, seed=0)
    assert mj.episodes == 24 and mj.success_rate >= 0.9
    assert mj.successes == ours.successes
    ok = np.array(mj.successes)
    assert np.abs(np.array(mj.lengths)[ok] - np.array(ours.lengths)[ok]).max() <= 2
    assert all(d < 0.05 for d, s in zip(mj.final_distance, mj.successes) if s)
    assert mj.median_time_to_reach == pytest.approx(np.median(np.array(mj.lengths)[ok]) / 60)
    lo, hi = mj.ci95
    assert lo <= mj.success_rate <= hi


def _zero_policy_run(**gap):
    seen = []

    def still(obs):
        seen.append(obs.copy())
        return np.zeros((obs.shape[0], 7))

    cfg = ReachDeployCfg.mirror()
    cfg.max_episode_length = 30
    r = deploy(still, episodes=2, seed=0, cfg=cfg, record=1, **gap)
    return r, np.concatenate(seen)


def test_gap_options():
    """Gap options: with zero commands the nominal robot holds its pose (nominal gravity compensation is
    exact); with masses x2 it sags under the missing half of its weight; sensor noise has the given
    standard deviation; an action delay of d control steps applies nothing for the first d steps."""
    r, _ = _zero_policy_run()
    q = r.trajectories[0]
    assert q.shape == (31, 7) and np.abs(q - q[0]).max() < 1e-9
    r, _ = _zero_policy_run(mass_scale=2.0)
    assert np.abs(r.trajectories[0][-1] - r.trajectories[0][0]).max() > 1e-3
    _, obs = _zero_policy_run(sensor_noise=(0.01, 0.1, 0.1))
    still_q = obs[0::2, :7]  # episode 0: the robot stands still, so the spread is the noise
    assert np.std(still_q - still_q.mean(0), axis=0).mean() == pytest.approx(0.01, rel=0.2)
    assert np.std(obs[0::2, 7:14]) == pytest.approx(0.1, rel=0.2)
    policy = _linear_reacher(gain=4.0)
    base = deploy(policy, episodes=2, seed=0, record=1)
    late = deploy(policy, episodes=2, seed=0, record=1, action_delay=3)
    q_late = late.trajectories[0]
    assert np.abs(q_late[1:4] - q_late[0]).max() < 1e-9 and np.abs(q_late[4] - q_late[0]).max() > 1e-3
    np.testing.assert_allclose(q_late[4], base.trajectories[0][1], atol=1e-9)  # the first command, 3 steps late
    with pytest.raises(ValueError, match="action_delay"):
        deploy(policy, episodes=1, action_delay=-1)
    with pytest.raises(ValueError, match="sensor_noise"):
        deploy(policy, episodes=1, sensor_noise=(0.1, 0.1))
    with pytest.raises(ValueError, match="callable"):
        deploy(42, episodes=1)


def test_inference_latency(tmp_path):
    """Latency: median and 99th percentile per variant, positive and ordered."""
    from course_lib.rl.export import export_onnx, export_torchscript, load_exported

    policy = Policy(17, 7, [64, 64], "elu", task="franka_reach")
    lat = inference_latency({"torch": policy,
                             "torchscript": load_exported(export_torchscript(policy, tmp_path / "p.pt")),
                             "onnx": load_exported(export_onnx(policy, tmp_path / "p.onnx"))}, calls=200, warmup=20)
    for v in lat.values():
        assert 0 < v["median_us"] <= v["p99_us"] and v["calls"] == 200 and math.isfinite(v["mean_us"])


def test_reach_observation_is_the_tasks():
    """The reference reach_observation (chapter 6's answer: the control node's observation) equals
    FrankaReachTask.compute_observations for the same state: [q, qd, target - tcp], float32 (N, 17)."""
    from course_answers import reach_observation

    env = course_lib.make("franka_reach", num_envs=16, seed=3)
    env.step(torch.rand(16, 7, generator=torch.Generator().manual_seed(0)) * 2 - 1)  # nonzero velocities
    obs = env.compute_observations().clone()
    got = reach_observation(env.get_joint_positions().double().numpy(), env.get_joint_velocities().double().numpy(),
                            env.get_end_effector_position().double().numpy(), env.targets.double().numpy())
    assert got.dtype == np.float32 and got.shape == (16, 17)
    np.testing.assert_allclose(got, obs.numpy(), atol=1e-6)


def test_observe_hook():
    """deploy(observe=...): the function gets the readings (q, qd (N, 7), tcp, target (N, 3), float64) and the
    policy sees exactly what it returns; the default is reach_observation (same outcomes, step by step); a
    wrong sign changes what the robot does; a wrong shape, dtype or a non-function is a ValueError that says
    what to fix."""
    from course_answers import reach_observation

    policy = _linear_reacher(gain=4.0)
    calls, seen = [], []

    def spy_observe(q, qd, tcp, target):
        calls.append((q.shape, qd.shape, tcp.shape, target.shape, q.dtype))
        return reach_observation(q, qd, tcp, target)

    def spy_policy(obs):
        seen.append(obs.copy())
        with torch.no_grad():
            return policy(torch.from_numpy(obs)).numpy()

    base = deploy(policy, episodes=3, seed=1, record=3)
    hooked = deploy(spy_policy, episodes=3, seed=1, record=3, observe=spy_observe)
    assert hooked.successes == base.successes and hooked.lengths == base.lengths
    for a, b in zip(hooked.trajectories, base.trajectories):
        np.testing.assert_array_equal(a, b)
    assert calls[0] == ((3, 7), (3, 7), (3, 3), (3, 3), np.float64) and len(calls) == len(seen)
    q, qd, tcp, target = (np.ones((3, 7)), 2 * np.ones((3, 7)), np.zeros((3, 3)), np.ones((3, 3)))
    flipped = deploy(policy, episodes=3, seed=1, record=1,  # tcp - target: the arm moves away
                     observe=lambda q, qd, tcp, target: reach_observation(q, qd, target, tcp))
    assert not np.allclose(flipped.trajectories[0][:5], base.trajectories[0][:5]) and flipped.success_rate == 0
    with pytest.raises(ValueError, match="float32"):
        deploy(policy, episodes=2, observe=lambda q, qd, tcp, t: np.concatenate((q, qd, t - tcp), axis=-1))
    with pytest.raises(ValueError, match="batch dimension"):
        deploy(policy, episodes=1, observe=lambda *a: reach_observation(*a)[0])
    with pytest.raises(ValueError, match="observe must be a function"):
        deploy(policy, episodes=1, observe="obs")
    assert reach_observation(q, qd, tcp, target)[0, 14:].tolist() == [1.0, 1.0, 1.0]


def test_without_the_instructors_answers_deploy_asks_for_an_observation(monkeypatch):
    """Where course_answers is not (a student's machine), deploy has no observation step of its own: without
    observe= it says to pass one's own (chapter 6's exercise), and with it, it runs."""
    from course_lib import answers
    from course_lib.deploy import reference_observation

    monkeypatch.setattr(answers, "load", lambda: None)
    with pytest.raises(ValueError, match="observe=mujoco_observation"):
        reference_observation()
    policy = _linear_reacher(gain=4.0)
    with pytest.raises(ValueError, match="chapter 6's exercise"):
        deploy(policy, episodes=1)
    mine = deploy(policy, episodes=2, seed=1, observe=lambda q, qd, tcp, target: np.concatenate(
        (q, qd, target - tcp), axis=-1).astype(np.float32))
    assert mine.episodes == 2
