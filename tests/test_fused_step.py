"""The whole-step CUDA graph's body (masked resets, masked episode statistics) against the ordinary step.

On the CPU the body runs eagerly (``env._fused = True`` forces it); tests/test_gpu.py replays it from a
CUDA graph."""
import pytest
import torch

import course_lib


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def pair(**cfg):
    a = course_lib.make("franka_reach", num_envs=64, seed=3, **cfg)
    b = course_lib.make("franka_reach", num_envs=64, seed=3, **cfg)
    b._fused = True
    return a, b


def test_without_resets_the_fused_body_is_the_ordinary_step():
    a, b = pair(success_radius=1e-6)  # no success, no time-out within 30 steps
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        act = 2 * torch.rand(64, 7, generator=g) - 1
        oa, ra, da, ea = a.step(act)
        ob, rb, db, eb = b.step(act)
        assert torch.equal(oa, ob) and torch.equal(ra, rb) and torch.equal(da, db)
        assert not bool(db.any())
        assert torch.equal(ea["time_outs"], eb["time_outs"])


def test_time_outs_reset_exactly_the_ended_environments():
    a, b = pair(max_episode_length=5, success_radius=1e-6)
    a.step(torch.zeros(64, 7))
    b.step(torch.zeros(64, 7))
    b.progress_buf[:32] = 0  # the first half is one step behind: it does not end in the 4 steps below
    act = torch.full((64, 7), 0.3)
    for k in range(4):
        oa, ra, da, ea = a.step(act)
        obs, rew, done, ext = b.step(act)
    ended = done.bool()
    assert ended[32:].all() and not ended[:32].any()  # 5 steps for the second half, 4 for the first
    assert ext["time_outs"][32:].all() and not ext["successes"].any()
    assert bool((b.progress_buf[32:] == 0).all()) and bool((b.progress_buf[:32] == 4).all())
    q = b.get_joint_positions()
    home = torch.tensor(course_lib.envs.franka_reach.PANDA_HOME)
    assert bool(((q[32:] - home).abs() <= 0.15 + 1e-6).all()) and bool((b.get_joint_velocities()[32:] == 0).all())
    assert bool((b.robot.vel_target[32:] == 0).all())
    lo, hi = torch.tensor((0.3, -0.3, 0.2)), torch.tensor((0.9, 0.3, 0.8))
    t = b.targets[32:]
    assert bool(((t >= lo) & (t <= hi)).all()) and t.std(0).min() > 0.05
    # the observation returned is the first of the new episode
    assert torch.allclose(obs[32:, :7], q[32:]) and torch.allclose(obs[32:, 14:], t - b.get_end_effector_position()[32:])
    # the episode statistics are the means over the ended environments only
    assert float(ext["episode"]["length"]) == 5.0 and float(ext["episode"]["success"]) == 0.0
    assert set(ext["episode"]) == set(ea["episode"])  # the ordinary step: all 64 ended at once
    assert torch.allclose(ext["episode"]["reward/action"], ea["episode"]["reward/action"], atol=1e-6)
    assert torch.allclose(ext["episode"]["reward/action"], torch.tensor(-0.01 * 0.3 * 7 ** 0.5 * 4 / 5), atol=1e-6)  # 4 of 5 steps pushed


def test_successes_end_episodes_and_count_in_the_statistics():
    _, b = pair(success_radius=10.0)  # every step succeeds
    obs, rew, done, ext = b.step(torch.zeros(64, 7))
    assert done.all() and ext["successes"].all() and not ext["time_outs"].any()
    assert float(ext["episode"]["success"]) == 1.0 and float(ext["episode"]["length"]) == 1.0
    assert bool((b.progress_buf == 0).all())


def test_randomized_and_student_tasks_keep_the_ordinary_step():
    from course_lib.envs import VecEnvBase

    env = course_lib.make("franka_reach", num_envs=4, seed=0)
    assert not env._use_fused_step()  # the CPU
    assert type(env).reset_where is not VecEnvBase.reset_where

    class Listing(course_lib.envs.FrankaReachTask):
        reset_where = VecEnvBase.reset_where

    env = Listing({"num_envs": 4, "seed": 0})
    env.device = torch.device("cuda")  # what it would decide on a GPU
    assert not env._use_fused_step()


def test_nan_actions_hold_still_and_are_reported_at_the_next_step():
    _, b = pair(success_radius=1e-6)
    b.step(torch.zeros(64, 7))
    act = torch.zeros(64, 7)
    act[5, 2] = float("nan")
    obs, *_ = b.step(act)  # the graph cannot stop: env 5 held still, the others moved on
    assert torch.isfinite(obs).all() and torch.isfinite(b.get_joint_positions()).all()
    with pytest.raises(ValueError, match=r"previous step contained NaN or inf \(environments \[5\]"):
        b.step(torch.zeros(64, 7))
    b.step(torch.zeros(64, 7))  # reported once; stepping goes on
    assert torch.isfinite(b.get_joint_positions()).all()


def test_fused_extras_are_the_task_buffers():
    _, b = pair()
    _, _, _, ext = b.step(torch.zeros(64, 7))
    assert ext["time_outs"] is b.timeout_buf and ext["successes"] is b.success_buf
