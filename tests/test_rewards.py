"""Exercise 4's reach rewards: sparse, dense and the chapter's improved one, against hand-computed values, and
the reach task's ``reward=`` switch (collisions end an episode as a failure)."""
import math

import pytest
import torch

import course_lib
from course_lib.envs import PANDA_HOME, FrankaReachCfg, make
from course_answers.reach_rewards import (dense_reach_reward, improved_reach_reward, near_joint_limits,
                                         sparse_reach_reward)

torch.set_num_threads(1)

# The Panda's limits (DESIGN.md, Franka control parameters), rad
LOWER = torch.tensor([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973])
UPPER = torch.tensor([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])
HOME = torch.tensor(PANDA_HOME)


def test_sparse_is_ten_within_five_centimetres_else_zero():
    total, terms = sparse_reach_reward(torch.tensor([0.0, 0.0499, 0.05, 0.3]))
    assert total.tolist() == [10.0, 10.0, 0.0, 0.0]
    assert list(terms) == ["success"]


def test_dense_is_minus_distance_plus_the_bonus():
    total, terms = dense_reach_reward(torch.tensor([0.01, 0.05, 0.4]))
    assert torch.allclose(total, torch.tensor([10.0 - 0.01, -0.05, -0.4]))
    assert set(terms) == {"distance", "success"} and torch.allclose(sum(terms.values()), total)


def test_near_joint_limits_uses_each_joints_own_limits():
    q = HOME.repeat(4, 1)
    q[1, 3] = -0.1  # joint 4, 0.03 rad below its upper limit -0.0698
    q[2, 5] = 0.1  # joint 6, 0.12 rad above its lower limit -0.0175
    q[3, 0] = 2.8  # joint 1, 0.10 rad below 2.8973
    q[3, 3] = -2.9  # joint 4, 0.17 rad above -3.0718: outside the 0.15 rad margin
    near = near_joint_limits(q, LOWER, UPPER, 0.15)
    assert near.sum(-1).tolist() == [0, 1, 1, 1]
    assert near[1, 3] and near[2, 5] and near[3, 0] and not near[3, 3]
    # the chapter's abs(q) > 0.9 flags joints 4 and 6 at the home pose (far from their limits) and misses joint 4
    # at -0.1 rad (at its limit): the reason the course does not use it
    chapter = q.abs() > 0.9
    assert chapter[0].nonzero().flatten().tolist() == [3, 5] and not chapter[1, 3]


def test_improved_reward_hand_computed():
    d = torch.tensor([0.02, 0.3, 0.04, 0.6])
    a = torch.zeros(4, 7)
    a[0] = 0.5
    a[3, 0] = -1.0
    collided = torch.tensor([False, True, True, False])
    q = HOME.repeat(4, 1)
    q[3, 3], q[3, 5] = -0.1, 3.7  # two joints near their limits
    total, terms = improved_reach_reward(d, a, collided, q, LOWER, UPPER)
    expected = [
        -0.02 + 5.0 - 0.01 * 0.5 * math.sqrt(7),  # success, moving
        -0.3 - 2.0,  # collision
        -0.04 + 5.0 - 2.0,  # success and collision on one step: both terms, as in the chapter's listing
        -0.6 - 0.01 * 1.0 - 0.1 * 2,  # two joints near their limits
    ]
    assert torch.allclose(total, torch.tensor(expected), atol=1e-6)
    assert list(terms) == ["distance", "success", "action", "collision", "joint_limit"]
    assert torch.allclose(sum(terms.values()), total)
    assert terms["collision"].tolist() == [0.0, -2.0, -2.0, 0.0]
    assert torch.allclose(terms["joint_limit"], torch.tensor([0.0, 0.0, 0.0, -0.2]))


def test_improved_reward_weights_are_parameters():
    d, a = torch.tensor([0.01]), torch.ones(1, 7)
    total, _ = improved_reach_reward(d, a, torch.tensor([True]), HOME[None], LOWER, UPPER, success_bonus=1.0,
                                     action_weight=0.0, collision_penalty=0.5, joint_limit_weight=0.0)
    assert torch.allclose(total, torch.tensor([-0.01 + 1.0 - 0.5]))


@pytest.mark.parametrize("args, match", [
    ((torch.zeros(3), torch.zeros(3, 7), torch.zeros(3), HOME.repeat(3, 1)), "collided must be a bool"),
    ((torch.zeros(3), torch.zeros(2, 7), torch.zeros(3, dtype=torch.bool), HOME.repeat(3, 1)),
     r"actions must have shape \(num_envs, 7\) with num_envs = 3"),
    ((torch.zeros(3, 1), torch.zeros(3, 7), torch.zeros(3, dtype=torch.bool), HOME.repeat(3, 1)),
     r"distance must have shape \(num_envs,\)"),
])
def test_improved_reward_says_what_is_wrong(args, match):
    with pytest.raises(ValueError, match=match):
        improved_reach_reward(*args, LOWER, UPPER)


# ------------------------------------------------------------------ the task's reward= switch
def test_unknown_reward_is_a_clear_error():
    with pytest.raises(ValueError, match=r"reward must be one of \['chapter', 'sparse', 'dense', 'improved'\]"):
        make("franka_reach", num_envs=2, reward="shaped")
    with pytest.raises(ValueError, match="reward must be one of"):
        FrankaReachCfg(reward="Sparse")


def test_rewards_are_a_registry_of_named_functions():
    from course_answers import REACH_REWARDS as EXERCISE4_REWARDS
    from course_answers.cartpole import CARTPOLE_REWARDS
    from course_lib.envs.franka_reach import REACH_REWARDS

    assert list(REACH_REWARDS) == ["chapter"]  # Exercise 4's are answers: the instructor's package adds them
    assert list(EXERCISE4_REWARDS) == ["sparse", "dense", "improved"]
    assert list(CARTPOLE_REWARDS) == ["exercise2", "isaacgym"]
    env = make("franka_reach", num_envs=2, seed=0)
    env.task_cfg.reward = "shaped"  # a name changed after construction is caught at the next step too
    with pytest.raises(ValueError, match=r"reward must be one of \['chapter', 'sparse', 'dense', 'improved'\]"):
        env.step(torch.zeros(2, 7))
    with pytest.raises(ValueError, match="reward must be 'exercise2' or 'isaacgym', got 'shaped'"):
        make("cartpole", num_envs=2, reward="shaped")


@pytest.mark.parametrize("reward, fn", [("sparse", sparse_reach_reward), ("dense", dense_reach_reward)])
def test_task_dispatches_to_the_pure_function(reward, fn):
    env = make("franka_reach", num_envs=16, seed=3, reward=reward)
    env.targets[:4] = env.get_end_effector_position()[:4] + 0.01  # four within the radius
    env.compute_reward()
    expected, terms = fn(env.tcp_distance())
    assert torch.equal(env.rew_buf, expected) and set(env.reward_terms) == set(terms)
    assert env.success_buf[:4].all() and env.reset_buf[:4].eq(1).all() and not env.success_buf[4:].any()


def _colliding_env(**overrides):
    """Four Pandas: home, hand through the table, elbow folded into itself, home with the target at the TCP."""
    env = make("franka_reach", num_envs=4, seed=0, **{"reward": "improved", **overrides})
    q = HOME.repeat(4, 1)
    q[1, 1], q[1, 3] = 1.7, -0.5  # leaning forward: the hand goes 0.17 m below the table
    q[2, 3] = -3.0  # elbow folded: self-collision
    env.set_joint_positions(torch.arange(4), q)
    env.targets[:] = env.get_end_effector_position() + torch.tensor([0.3, 0.0, 0.0])
    env.targets[1] = env.get_end_effector_position()[1] + 0.01  # within the radius *and* in collision
    env.targets[3] = env.get_end_effector_position()[3]
    return env


def test_improved_reward_in_the_task_penalises_and_ends_collisions_as_failures():
    env = _colliding_env()
    assert env.check_collisions().tolist() == [False, True, True, False]
    env.compute_reward()
    assert env.reward_terms["collision"].tolist() == [0.0, -2.0, -2.0, 0.0]
    assert env.collision_buf.tolist() == [False, True, True, False]
    assert env.reset_buf.tolist() == [0, 1, 1, 1]
    assert env.success_buf.tolist() == [False, False, False, True]  # env 1 reached the target but collided
    expected, _ = improved_reach_reward(env.tcp_distance(), env.actions, env.collision_buf, env.get_joint_positions(),
                                        env.robot.lower, env.robot.upper)
    assert torch.equal(env.rew_buf, expected)
    # through step(): collisions are neither successes nor time-outs
    env = _colliding_env(max_episode_length=1)
    _, _, resets, extras = env.step(torch.zeros(4, 7))
    assert resets.tolist() == [1, 1, 1, 1]
    assert extras["successes"].tolist() == [False, False, False, True]
    assert extras["time_outs"].tolist() == [True, False, False, False]


def test_collision_reset_and_penalty_can_be_turned_off():
    env = _colliding_env(reset_on_collision=False, collision_penalty=0.0)
    env.compute_reward()
    assert env.collision_buf.tolist() == [False, True, True, False]  # still measured
    assert env.reward_terms["collision"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert env.reset_buf.tolist() == [0, 1, 0, 1] and env.success_buf.tolist() == [False, True, False, True]


def test_train_takes_the_reward_option(tmp_path):
    r = course_lib.train("franka_reach", num_envs=16, iterations=2, device="cpu", seed=0, runs_dir=str(tmp_path),
                         name="sparse", reward="sparse", progress=False, out=open(tmp_path / "log.txt", "w"))
    header = open(tmp_path / "sparse" / "metrics.csv").readline().strip().split(",")
    assert [h for h in header if h.startswith("reward/")] == ["reward/success"]
    assert r.policy().metadata["task_cfg"]["reward"] == "sparse"  # the checkpoint says which reward trained it
    assert r.iterations == 2


# ------------------------------------------------------------------ a reward function of one's own (Exercise 4)
def _student_sparse(distance):
    return 10.0 * (distance < 0.05).float()


def _student_improved(distance, actions, collided, q, q_lower, q_upper):
    reward = -distance + 5.0 * (distance < 0.05).float() - 0.01 * torch.linalg.vector_norm(actions, dim=-1)
    reward = reward - 2.0 * collided.float()
    return reward - 0.1 * ((q < q_lower + 0.15) | (q > q_upper - 0.15)).sum(dim=-1).float()


def test_own_reward_function_is_called_with_the_inputs_it_names():
    env = make("franka_reach", num_envs=16, seed=3, reward=_student_sparse)
    env.targets[:4] = env.get_end_effector_position()[:4] + 0.01
    env.compute_reward()
    assert torch.equal(env.rew_buf, sparse_reach_reward(env.tcp_distance())[0])
    assert list(env.reward_terms) == ["_student_sparse"]  # logged as reward/<the function's name>
    assert env.success_buf[:4].all() and env.reset_buf[:4].eq(1).all() and not env.success_buf[4:].any()


def test_own_reward_taking_collided_ends_collisions_as_failures_like_the_reference():
    ref, own = _colliding_env(), _colliding_env(reward=_student_improved)
    for env in (ref, own):
        env.compute_reward()
    torch.testing.assert_close(own.rew_buf, ref.rew_buf)
    assert own.reset_buf.tolist() == ref.reset_buf.tolist() == [0, 1, 1, 1]
    assert own.success_buf.tolist() == ref.success_buf.tolist() == [False, False, False, True]


def test_own_reward_mistakes_are_clear_errors():
    with pytest.raises(ValueError, match=r"takes \['dist'\], which the reach task does not provide: name its "
                                         r"parameters from \['distance', 'actions'"):
        make("franka_reach", num_envs=2, reward=lambda dist: -dist)

    def per_joint(q):
        return -q.abs()  # (N, 7): one reward per joint, not per environment

    env = make("franka_reach", num_envs=2, seed=0, reward=per_joint)
    with pytest.raises(ValueError, match=r"per_joint returned shape \(2, 7\).*shape \(num_envs,\) = \(2,\)"):
        env.step(torch.zeros(2, 7))
    env = make("franka_reach", num_envs=2, seed=0, reward=lambda distance: distance < 0.05)
    with pytest.raises(ValueError, match="dtype torch.bool.*must return a float tensor"):
        env.step(torch.zeros(2, 7))


def test_exercise4_reward_names_without_the_instructors_package_say_what_to_pass(monkeypatch):
    from course_lib import answers

    monkeypatch.setattr(answers, "load", lambda module=None: None)  # a student's machine
    with pytest.raises(ValueError, match=r"reward='sparse' is chapter 4's exercise.*reward=sparse_reward"):
        make("franka_reach", num_envs=2, reward="sparse")
    make("franka_reach", num_envs=2, reward=_student_sparse)  # their own function is what they train with


def test_train_records_an_own_reward_by_its_name(tmp_path):
    r = course_lib.train("franka_reach", num_envs=16, iterations=2, device="cpu", seed=0, runs_dir=str(tmp_path),
                         name="own", reward=_student_sparse, progress=False, out=open(tmp_path / "log.txt", "w"))
    header = open(tmp_path / "own" / "metrics.csv").readline().strip().split(",")
    assert [h for h in header if h.startswith("reward/")] == ["reward/_student_sparse"]
    assert r.policy().metadata["task_cfg"]["reward"] == "_student_sparse"
