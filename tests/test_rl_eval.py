"""Evaluation: fixed seeded episodes, success by the task's definition, Wilson interval, and clear errors
for checkpoints that are missing, corrupt, or for another task / observation size."""
import os

import pytest
import torch

import course_lib
from course_lib.rl import CheckpointError, CourseVectorEnv, evaluate, load_policy, success_ci
from tests._helpers import train_tiny


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    return train_tiny("cartpole", tmp_path_factory)


def zero_policy(obs):
    return torch.zeros(obs.shape[0], 1)


def test_success_ci_is_the_wilson_interval():
    """The library's intervals (from SciPy) are the Wilson score interval: textbook values, the ends at 0/n and
    n/n, the reference of chapter 6 to 1e-12, and a wider interval at a higher confidence."""
    from course_answers import wilson_interval

    lo, hi = success_ci(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    assert success_ci(0, 10)[0] == 0.0 and success_ci(10, 10)[1] == 1.0
    lo, hi = success_ci(0, 10)
    assert hi == pytest.approx(0.2775, abs=1e-4)
    for s, n in ((0, 1), (1, 1), (7, 20), (998, 1000), (1, 10**6)):
        assert success_ci(s, n) == pytest.approx(wilson_interval(s, n, z=1.959963984540054), abs=1e-12)
    assert success_ci(7, 20, confidence=0.99)[0] < success_ci(7, 20)[0]
    assert success_ci(0, 0) == (0.0, 1.0)


def test_evaluation_is_deterministic(cartpole_run):
    policy = load_policy(cartpole_run.checkpoint)
    a = evaluate("cartpole", policy, episodes=40, seed=7)
    b = evaluate("cartpole", policy, episodes=40, seed=7)
    assert a.successes == b.successes and a.rewards == b.rewards and a.lengths == b.lengths
    assert len(a.successes) == len(a.rewards) == len(a.lengths) == 40
    assert a.success_rate == sum(a.successes) / 40
    assert a.ci95 == success_ci(sum(a.successes), 40)
    assert a.mean_length == pytest.approx(sum(a.lengths) / 40)
    c = evaluate("cartpole", policy, episodes=40, seed=8)
    assert c.rewards != a.rewards


def test_the_episode_set_does_not_depend_on_the_policy():
    """Episode i starts from the same state whatever the policy does (first observations are recorded)."""
    firsts = []
    for pol in (zero_policy, lambda o: torch.ones(o.shape[0], 1)):
        env = course_lib.make("cartpole", num_envs=16, seed=0)
        seen = []
        orig_reset = env.reset

        def reset():
            obs = orig_reset()
            seen.append(obs.clone())
            return obs

        env.reset = reset
        evaluate(env, pol, episodes=40, seed=3)
        firsts.append(torch.cat(seen)[:40])
    assert torch.equal(firsts[0], firsts[1])


def test_batch_size_does_not_change_episodes_within_a_batch():
    a = evaluate("cartpole", zero_policy, episodes=20, seed=1, num_envs=20)
    b = evaluate("cartpole", zero_policy, episodes=20, seed=1)
    assert a.rewards == b.rewards


def test_success_is_the_tasks_not_the_reward():
    """Cart-pole: success = pole up for the whole 500 steps; a policy that falls never succeeds,
    whatever reward the student gave the task."""
    r = evaluate("cartpole", zero_policy, episodes=20, seed=0)
    assert r.success_rate == 0.0 and all(n < 500 for n in r.lengths)
    r2 = evaluate("cartpole", zero_policy, episodes=20, seed=0, reward="isaacgym")
    assert r2.successes == r.successes and r2.lengths == r.lengths and r2.rewards != r.rewards


def test_reach_success_ends_episodes_early():
    """Reach: an episode succeeds when the TCP is within 5 cm; a controller that goes to the target
    succeeds and its episodes end before the time limit."""
    env = course_lib.make("franka_reach", num_envs=64, seed=0)

    def to_target(obs):
        # joint velocity along J^T (target - tcp): a simple reaching controller
        q = env.get_joint_positions()
        J = env.robot.jacobian(q, env.robot.link_index("panda_hand_tcp"))[:, :3] if hasattr(env.robot, "jacobian") else None
        if J is None:
            pytest.skip("no Jacobian accessor on the articulation")
        dq = torch.einsum("nij,ni->nj", J, obs[:, 14:17])
        return (4.0 * dq).clamp(-1, 1)

    r = evaluate(env, to_target, episodes=64, seed=0)
    assert r.success_rate > 0.5
    assert min(n for n, s in zip(r.lengths, r.successes) if s) < 500


def test_result_string_and_dict(cartpole_run):
    r = evaluate("cartpole", cartpole_run.checkpoint, episodes=10, seed=0)
    s = str(r)
    assert "success" in s and "95% CI" in s and "10 episodes" in s
    d = r.to_dict()
    assert d["episodes"] == 10 and len(d["successes"]) == 10


# ----------------------------------------------------------------- errors
def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_policy(tmp_path / "nope.pth")
    (tmp_path / "emptyrun" / "nn").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_policy(tmp_path / "emptyrun")


def test_corrupt_checkpoint(tmp_path, cartpole_run):
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError, match="garbage.pth.*(corrupt|not)"):
        load_policy(bad)
    data = open(cartpole_run.checkpoint, "rb").read()
    cut = tmp_path / "truncated.pth"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pth"):
        load_policy(cut)


def test_not_a_course_checkpoint(tmp_path):
    p = tmp_path / "plain.pth"
    torch.save({"model": {"w": torch.zeros(2)}}, p)
    with pytest.raises(CheckpointError, match="no course_lib metadata"):
        load_policy(p)
    q = tmp_path / "weights.pth"
    torch.save(torch.zeros(3), q)
    with pytest.raises(CheckpointError, match="not an rl-games checkpoint"):
        load_policy(q)


def test_checkpoint_for_another_task(cartpole_run):
    with pytest.raises(CheckpointError, match="for task 'cartpole', not 'franka_reach'"):
        load_policy(cartpole_run.checkpoint, task="franka_reach")
    policy = load_policy(cartpole_run.checkpoint)
    with pytest.raises(CheckpointError, match="trained for task 'cartpole'"):
        evaluate("franka_reach", policy, episodes=2)


def test_checkpoint_for_another_observation_size(cartpole_run, tmp_path):
    with pytest.raises(CheckpointError, match="4 observations"):
        load_policy(cartpole_run.checkpoint, num_obs=17)
    policy = load_policy(cartpole_run.checkpoint)
    with pytest.raises(ValueError, match="trained on 4 observations"):
        policy(torch.zeros(3, 17))
    # metadata that lies about the network is caught when the weights are read
    state = torch.load(cartpole_run.checkpoint, weights_only=True)
    state["course"]["num_obs"] = 5
    p = tmp_path / "lying.pth"
    torch.save(state, p)
    with pytest.raises(CheckpointError, match="shape"):
        load_policy(p)


def test_bad_evaluate_arguments(cartpole_run):
    with pytest.raises(ValueError, match="episodes"):
        evaluate("cartpole", zero_policy, episodes=0)
    with pytest.raises(ValueError, match="unknown task"):
        evaluate("nosuch", zero_policy, episodes=1)
    with pytest.raises(ValueError, match="give a policy"):
        evaluate("cartpole", None)


def test_gymnasium_vector_adapter():
    envs = CourseVectorEnv("cartpole", num_envs=8, seed=0)
    obs, info = envs.reset(seed=0)
    assert obs.shape == (8, 4) and envs.single_action_space.shape == (1,)
    ended = 0
    for _ in range(200):
        obs, rew, term, trunc, info = envs.step(envs.action_space.sample())
        assert obs.shape == (8, 4) and rew.shape == term.shape == trunc.shape == (8,)
        ended += int((term | trunc).sum())
    assert ended > 0 and "success" in info
    t = CourseVectorEnv("franka_reach", num_envs=4, seed=0, tensors=True)
    obs, _ = t.reset()
    assert torch.is_tensor(obs) and obs.shape == (4, 17)


def test_stable_baselines3_adapter():
    sb3 = pytest.importorskip("stable_baselines3")
    from course_lib.rl.gym_adapter import to_sb3

    venv = to_sb3(CourseVectorEnv("cartpole", num_envs=16, seed=0))
    assert isinstance(venv, sb3.common.vec_env.VecEnv)
    sb3.PPO("MlpPolicy", venv, n_steps=32, batch_size=256, device="cpu", seed=0).learn(1024)
