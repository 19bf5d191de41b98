"""The task API and the two reference tasks: buffers, episodes, rewards, bad input."""
import math

import pytest
import torch

import course_lib
from course_answers.cartpole import CartpoleTask, cartpole_exercise_reward
from course_lib.envs import FrankaReachCfg, FrankaReachTask, VecEnvBase, make
from course_lib.envs.rewards import cartpole_isaacgym_reward, reach_reward


@pytest.fixture(scope="module")
def reach():
    return make("franka_reach", num_envs=32, seed=1)


@pytest.fixture(scope="module")
def cartpole():
    return make("cartpole", num_envs=32, seed=1)


# ---------------------------------------------------------------- registry
def test_make_builds_both_tasks_with_the_chapter_sizes(reach, cartpole):
    assert isinstance(reach, FrankaReachTask) and isinstance(reach, VecEnvBase)
    assert (reach.num_obs, reach.num_actions) == (17, 7)
    assert (cartpole.num_obs, cartpole.num_actions) == (4, 1)
    assert reach.obs_buf.shape == (32, 17) and cartpole.obs_buf.shape == (32, 4)
    for env in (reach, cartpole):
        assert env.rew_buf.shape == (32,) and env.reset_buf.dtype == torch.long
        assert env.progress_buf.dtype == torch.long and env.timeout_buf.dtype == torch.bool


def test_unknown_task_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown task 'franka_push'.*cartpole.*franka_reach"):
        make("franka_push")


def test_unknown_config_key_names_the_key_and_the_allowed_ones():
    with pytest.raises(ValueError, match=r"num_env.*allowed"):
        make("franka_reach", num_env=8)
    with pytest.raises(ValueError, match=r"succes_radius.*franka_reach config"):
        FrankaReachTask({"num_envs": 4, "succes_radius": 0.1})


def test_chapter_yaml_sections_are_accepted():
    env = FrankaReachTask({"num_envs": 4, "env_spacing": 2.0, "ppo": {"num_iterations": 10}, "network": {}})
    assert env.num_envs == 4


def test_missing_num_envs_is_a_clear_error():
    class NoEnvs(VecEnvBase):
        num_obs, num_actions = 1, 1

    with pytest.raises(ValueError, match="num_envs"):
        NoEnvs({})


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad, match", [
    (torch.zeros(32, 6), r"shape \(num_envs, num_actions\) = \(32, 7\), got \(32, 6\)"),
    (torch.zeros(7), r"got \(7,\)"),
    (torch.zeros(32, 7, dtype=torch.long), "floating point"),
    (torch.zeros(32, 7).numpy(), "torch.Tensor"),
    (torch.full((32, 7), float("nan")), "NaN or inf"),
    (torch.zeros(32, 7).index_fill_(0, torch.tensor([3]), float("inf")), r"NaN or inf \(environments \[3\]"),
])
def test_step_rejects_bad_actions(reach, bad, match):
    with pytest.raises(ValueError, match=match):
        reach.step(bad)


def test_step_rejects_actions_on_another_device(reach):
    meta = torch.zeros(32, 7, device="meta")
    with pytest.raises(ValueError, match=r"on meta but the environments are on cpu"):
        reach.step(meta)


def test_bad_input_loses_nothing(reach):
    """A rejected step changes no state."""
    q = reach.get_joint_positions().clone()
    progress = reach.progress_buf.clone()
    with pytest.raises(ValueError):
        reach.step(torch.full((32, 7), float("nan")))
    assert torch.equal(q, reach.get_joint_positions()) and torch.equal(progress, reach.progress_buf)


def test_cuda_device_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        make("cartpole", num_envs=2, device="cuda")


def test_joint_positions_outside_limits_are_clamped_with_a_warning(reach):
    ids = torch.tensor([0, 1])
    with pytest.warns(UserWarning, match=r"panda_joint4.*-3.0718..-0.0698\) and were clamped"):
        reach.set_joint_positions(ids, torch.zeros(2, 7))  # joint 4 must be <= -0.0698
    q = reach.get_joint_positions()[ids]
    assert torch.all(q[:, 3] <= reach.robot.upper[3] + 1e-7)


# ------------------------------------------------------------- episodes
def test_reset_draws_poses_inside_limits_and_targets_inside_the_box():
    env = make("franka_reach", num_envs=2048, seed=3)
    q = env.get_joint_positions()
    assert torch.all(q >= env.robot.lower) and torch.all(q <= env.robot.upper)
    home = torch.tensor(FrankaReachCfg().home_pose)
    assert torch.all((q - home).abs() <= FrankaReachCfg().reset_noise + 1e-6)
    lo, hi = torch.tensor([0.3, -0.3, 0.2]), torch.tensor([0.9, 0.3, 0.8])
    assert torch.all(env.targets >= lo) and torch.all(env.targets <= hi)
    assert torch.all(env.get_joint_velocities() == 0)


def test_reset_idx_touches_only_the_selected_envs():
    env = make("franka_reach", num_envs=16, seed=0)
    for _ in range(5):
        env.step(torch.rand(16, 7) * 2 - 1)
    before_q, before_t = env.get_joint_positions().clone(), env.targets.clone()
    ids = torch.tensor([2, 7, 11])
    env.reset_idx(ids)
    keep = torch.ones(16, dtype=torch.bool)
    keep[ids] = False
    assert torch.equal(env.get_joint_positions()[keep], before_q[keep])
    assert torch.equal(env.targets[keep], before_t[keep])
    assert not torch.equal(env.targets[ids], before_t[ids])
    assert torch.all(env.progress_buf[ids] == 0)


def test_time_outs_are_kept_apart_from_failures():
    env = make("cartpole", num_envs=64, seed=0, max_episode_length=20)
    seen_timeout = seen_failure = False
    for _ in range(60):
        # push hard one way: some poles fall, the rest time out at 20 steps
        obs, rew, resets, extras = env.step(torch.ones(64, 1) * 0.05)
        timeouts = extras["time_outs"]
        assert torch.all(resets[timeouts] == 1)
        failures = resets.bool() & ~timeouts
        if failures.any():
            seen_failure = True
            assert torch.all(rew[failures] == -10.0)
        if timeouts.any():
            seen_timeout = True
            assert torch.all(rew[timeouts] >= 0)
    assert seen_timeout
    assert int(env.progress_buf.max()) <= 20


def test_step_returns_the_first_observation_of_the_new_episode():
    env = make("franka_reach", num_envs=8, seed=0, max_episode_length=3)
    for _ in range(3):
        obs, _, resets, extras = env.step(torch.zeros(8, 7))
    assert torch.all(resets == 1) and torch.all(extras["time_outs"])
    # the returned observation is the reset state: zero joint velocities, the new target
    assert torch.allclose(obs[:, 7:14], torch.zeros(8, 7))
    assert torch.allclose(obs[:, 14:], env.targets - env.get_end_effector_position())
    assert torch.all(env.progress_buf == 0)


def test_reach_success_ends_the_episode_with_the_bonus():
    env = make("franka_reach", num_envs=4, seed=0)
    # put every target on the TCP: the next step is a success
    env.targets[:] = env.get_end_effector_position()
    obs, rew, resets, extras = env.step(torch.zeros(4, 7))
    assert torch.all(resets == 1) and torch.all(extras["successes"]) and not extras["time_outs"].any()
    assert torch.all(rew > 9.0)
    assert "reward/success" in extras["episode"] and float(extras["episode"]["success"]) == 1.0


def test_cartpole_success_is_surviving_to_the_time_limit():
    env = make("cartpole", num_envs=8, seed=0, max_episode_length=5)
    for _ in range(5):
        _, _, resets, extras = env.step(torch.zeros(8, 1))
    assert torch.all(resets == 1) and torch.all(extras["time_outs"]) and torch.all(extras["successes"])


def test_reach_velocity_commands_are_scaled_to_the_joint_limits():
    env = make("franka_reach", num_envs=2, seed=0)
    env.step(torch.ones(2, 7) * 2.0)  # clipped to 1
    limits = torch.tensor([2.175] * 4 + [2.61] * 3)
    assert torch.allclose(env.robot.vel_target, limits.expand(2, 7))


def test_reach_velocity_drive_tracks_the_command():
    env = make("franka_reach", num_envs=1, seed=0, max_episode_length=10_000)
    env.targets[:] = torch.tensor([10.0, 10.0, 10.0])  # unreachable: no success reset
    cmd = torch.tensor([[0.1, -0.1, 0.1, 0.1, -0.1, 0.1, -0.1]])
    for _ in range(30):
        env.step(cmd)
    qd = env.get_joint_velocities()
    assert torch.allclose(qd, cmd * env.robot.velocity_limit, rtol=0.05, atol=0.01)


# --------------------------------------------------------------- rewards
def test_reach_reward_is_the_chapters_three_terms():
    d = torch.tensor([0.0, 0.049, 0.05, 0.5])
    a = torch.tensor([[0.0] * 7, [1.0] * 7, [0.5] * 7, [-1.0] * 7])
    total, terms = reach_reward(d, a)
    norm = torch.linalg.vector_norm(a, dim=-1)
    expected = -d - 0.01 * norm + 10.0 * (d < 0.05)
    assert torch.allclose(total, expected)
    assert set(terms) == {"distance", "action", "success"}
    assert torch.allclose(sum(terms.values()), total)


def test_cartpole_exercise_reward():
    theta = torch.tensor([0.0, math.radians(11.9), math.radians(12.1), 1.0, 2.0])
    fallen = torch.tensor([False, False, False, False, True])
    total, terms = cartpole_exercise_reward(theta, fallen)
    assert total.tolist() == [1.0, 1.0, 0.0, 0.0, -10.0]


def test_cartpole_isaacgym_reward():
    theta, xd, thd = torch.tensor([0.1, 0.2]), torch.tensor([1.0, -2.0]), torch.tensor([-3.0, 0.5])
    fallen = torch.tensor([False, True])
    total, _ = cartpole_isaacgym_reward(theta, xd, thd, fallen)
    assert torch.isclose(total[0], torch.tensor(1 - 0.01 - 0.01 * 1.0 - 0.005 * 3.0))
    assert total[1] == -2.0


def test_reward_terms_are_logged_per_episode(cartpole):
    env = make("cartpole", num_envs=16, seed=0, max_episode_length=4)
    for _ in range(4):
        _, _, _, extras = env.step(torch.zeros(16, 1))
    assert {"reward/upright", "reward/fall", "success", "length"} <= set(extras["episode"])


# ------------------------------------------------------- rollouts, seeds
@pytest.mark.parametrize("name", ["cartpole", "franka_reach"])
def test_long_random_rollouts_stay_finite(name):
    env = make(name, num_envs=128, seed=5)
    g = torch.Generator().manual_seed(0)
    for _ in range(1500):
        a = torch.rand(128, env.num_actions, generator=g) * 4 - 2  # beyond [-1, 1] too
        obs, rew, _, _ = env.step(a)
        assert torch.isfinite(obs).all() and torch.isfinite(rew).all()
    q = env.get_joint_positions()
    assert torch.all(q >= env.robot.lower - 1e-6) and torch.all(q <= env.robot.upper + 1e-6)


@pytest.mark.parametrize("name", ["cartpole", "franka_reach"])
def test_same_seed_gives_bit_identical_rollouts(name):
    def run():
        env = make(name, num_envs=64, seed=123)
        g = torch.Generator().manual_seed(7)
        out = []
        for _ in range(200):
            obs, rew, resets, _ = env.step(torch.rand(64, env.num_actions, generator=g) * 2 - 1)
            out.append((obs.clone(), rew.clone(), resets.clone()))
        return out

    a, b = run(), run()
    assert all(torch.equal(x, y) for s, t in zip(a, b) for x, y in zip(s, t))
    c = make(name, num_envs=64, seed=124).obs_buf
    assert not torch.equal(a[0][0], c)  # another seed, other episodes


def test_gymnasium_spaces(reach):
    assert reach.observation_space.shape == (17,)
    assert reach.action_space.shape == (7,) and float(reach.action_space.high[0]) == 1.0


def test_package_exposes_make():
    assert course_lib.make is make
    assert isinstance(course_lib.make("cartpole", num_envs=2), CartpoleTask)


def test_check_collisions_home_pose_free_folded_pose_colliding():
    env = make("franka_reach", num_envs=2, seed=0)
    folded = torch.tensor([[0.0, 0.0, 0.0, -1.5708, 0.0, 1.5708, -0.7853],
                           [0.0, 0.0, 0.0, -3.0718, 0.0, 0.5, -0.7853]])
    env.set_joint_positions(torch.arange(2), folded)
    assert env.check_collisions().tolist() == [False, True]


@pytest.mark.parametrize("name", ["cartpole", "franka_reach"])
def test_one_control_step_is_decimation_physics_steps_of_sim_dt(name):
    """Control at 60 Hz: one env.step = 2 physics steps of 1/120 s (a regression: it once ran 2 of 1/240 s)."""
    env = make(name, num_envs=4, seed=0, max_episode_length=10_000)
    assert env.sim_dt == pytest.approx(1 / 120) and env.decimation == 2
    if name == "franka_reach":
        env.targets[:] = 10.0  # unreachable: no success reset in this step
    env.step(torch.rand(4, env.num_actions) * 2 - 1)  # some motion
    q0, qd0 = env.robot.q.clone(), env.robot.qd.clone()
    actions = torch.rand(4, env.num_actions) * 2 - 1
    # the same physics by hand
    from course_lib.sim import asset_path, load_urdf
    twin = load_urdf(asset_path(env.robot.spec.name + ".urdf"), 4)
    for attr in ("stiffness", "damping", "joint_damping", "joint_friction", "armature", "effort_limit"):
        getattr(twin, attr).copy_(getattr(env.robot, attr))
    twin.gravity_compensation = env.robot.gravity_compensation
    twin.set_state(None, q=q0, qd=qd0)
    env.step(actions)
    twin.vel_target.copy_(env.robot.vel_target)
    twin.effort.copy_(env.robot.effort)
    twin.physics_step(1 / 120)
    twin.physics_step(1 / 120)
    assert torch.allclose(env.robot.q, twin.q, atol=1e-6) and torch.allclose(env.robot.qd, twin.qd, atol=1e-5)
