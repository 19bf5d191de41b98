"""Tiny-budget training runs of both tasks in a subprocess (CleanRL's style), what a run writes,
determinism on the CPU, and the checkpoint round trip against rl-games' own player."""
import csv
import os
import subprocess
import sys

import pytest
import torch

import course_lib
from tests._helpers import train_tiny

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def course(*args, cwd, timeout=240):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "course_lib.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def only_run(runs_dir):
    (name,) = os.listdir(runs_dir)
    return os.path.join(runs_dir, name)


@pytest.mark.parametrize("task", ["cartpole", "franka_reach"])
def test_tiny_training_run_in_a_subprocess(task, tmp_path):
    r = course("train", task, "--iterations", "3", "--num-envs", "16", "--device", "cpu", "--seed", "1",
               "--print-interval", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    # the chapter's line, at the interval
    assert "Iteration: 1/3  Mean Reward: " in out and "Iteration: 3/3  " in out
    assert "Success Rate: " in out and "FPS: " in out
    # what was changed and why is said
    assert "num_envs:" in out and "torch_compile" in out
    # rl-games' chatter is not in the student's face, but is kept
    assert "RunningMeanStd" not in out and "=> saving checkpoint" not in out
    run = only_run(tmp_path / "runs")
    for f in ("config.yaml", "rl_games.yaml", "metrics.csv", "timing.csv", "training_curves.png", "rl_games.log",
              "nn/last.pth"):
        assert os.path.exists(os.path.join(run, f)), f
    assert "RunningMeanStd" in open(os.path.join(run, "rl_games.log")).read()
    assert os.listdir(os.path.join(run, "summaries"))
    rows = list(csv.DictReader(open(os.path.join(run, "metrics.csv"))))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3]
    assert int(rows[-1]["env_steps"]) == 3 * 16 * 16
    for term in course_lib.make(task, num_envs=1).reward_terms or ():
        assert f"reward/{term}" in rows[0]
    policy = course_lib.load_policy(run)
    assert policy.task == task and policy.metadata["iteration"] == 3


def test_tensorboard_has_success_rate_and_reward_terms(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    res = course_lib.train("franka_reach", num_envs=32, iterations=3, seed=0, runs_dir=str(tmp_path),
                           max_episode_length=20,
                           progress=False, out=open(os.devnull, "w"))
    ea = EventAccumulator(os.path.join(res.run_dir, "summaries"))
    ea.Reload()
    tags = set(ea.Tags()["scalars"])
    assert "Episode/success_rate" in tags
    assert {"reward/distance", "reward/action", "reward/success"} <= tags


def _metrics(run):
    with open(os.path.join(run, "metrics.csv")) as f:
        return f.read()


def test_same_seed_same_metrics_on_the_cpu(tmp_path):
    runs = []
    for i, seed in enumerate((5, 5, 6)):
        d = tmp_path / str(i)
        d.mkdir()
        r = course("train", "cartpole", "--iterations", "4", "--num-envs", "32", "--device", "cpu", "--seed",
                   str(seed), "--no-progress", cwd=d)
        assert r.returncode == 0, r.stderr
        runs.append(only_run(d / "runs"))
    assert _metrics(runs[0]) == _metrics(runs[1])
    assert _metrics(runs[0]) != _metrics(runs[2])


@pytest.fixture(scope="module")
def reach_run(tmp_path_factory):
    return train_tiny("franka_reach", tmp_path_factory)


def _rlgames_player(checkpoint):
    """rl-games' own player, restored from the same checkpoint."""
    from rl_games.algos_torch.players import PpoPlayerContinuous

    meta = torch.load(checkpoint, weights_only=True)["course"]
    env = course_lib.make(meta["task"], num_envs=1)
    params = meta["rl_games"]["params"]
    params["config"]["env_info"] = {"observation_space": env.observation_space, "action_space": env.action_space,
                                    "agents": 1, "value_size": 1}
    params["config"]["device_name"] = "cpu"
    player = PpoPlayerContinuous(params)
    player.restore(checkpoint)
    player.has_batch_dimension = True
    return player


def test_load_policy_matches_rlgames_player(reach_run):
    policy = course_lib.load_policy(reach_run.checkpoint)
    player = _rlgames_player(reach_run.checkpoint)
    env = course_lib.make("franka_reach", num_envs=256, seed=3)
    obs = env.reset()
    # observations far from the running mean exercise the [-5, 5] clamp too
    obs = torch.cat([obs, obs * 50.0, torch.randn(64, 17) * 3.0])
    ours = policy(obs)
    theirs = player.get_action(obs, is_deterministic=True)
    assert ours.shape == theirs.shape == (obs.shape[0], 7)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    assert float(ours.abs().max()) <= 1.0


def test_policy_is_plain_torch_and_deterministic(reach_run):
    policy = course_lib.load_policy(os.path.dirname(os.path.dirname(reach_run.checkpoint)))  # the run directory
    assert isinstance(policy, torch.nn.Module)
    obs = torch.randn(10, 17)
    assert torch.equal(policy(obs), policy(obs))
    # the normalisation is baked into the module's state
    assert "obs_mean" in policy.state_dict() and not torch.all(policy.obs_mean == 0)
    # a plain module: its state round-trips without rl-games
    from course_lib.rl.policy import Policy

    clone = Policy(17, 7, policy.metadata["network"]["units"], policy.metadata["network"]["activation"])
    clone.load_state_dict(policy.state_dict())
    assert torch.equal(clone(obs), policy(obs))
    assert policy.num_obs == 17 and policy.num_actions == 7 and policy.task == "franka_reach"


def test_checkpoint_holds_what_eval_needs(reach_run):
    state = torch.load(reach_run.checkpoint, weights_only=True)
    meta = state["course"]
    assert meta["task"] == "franka_reach" and meta["num_obs"] == 17 and meta["num_actions"] == 7
    assert meta["task_cfg"]["max_episode_length"] == 500
    assert meta["rl_games"]["params"]["algo"]["name"] == "a2c_continuous"
    assert meta["config"]["ppo"]["horizon_length"] == 16
    # rl-games can restore it into an agent as well (it is rl-games' own format plus metadata)
    assert {"model", "optimizer", "epoch", "frame"} <= set(state)


def test_training_a_task_instance(tmp_path):
    env = course_lib.make("cartpole", num_envs=16, seed=0)
    res = course_lib.train(env, iterations=2, runs_dir=str(tmp_path), progress=False, out=open(os.devnull, "w"))
    assert res.task == "cartpole" and res.iterations == 2
    assert course_lib.load_policy(res.checkpoint).task == "cartpole"


def test_training_the_chapters_listing(tmp_path):
    """A student's copy of the chapter's FrankaReachTask listing trains (its step returns `{}`: no
    time-outs, said once), and its policy can be graded on the reference task."""
    from tests.listings.chapter_franka_reach import FrankaReachTask

    with pytest.warns(UserWarning, match="time_outs"):
        res = course_lib.train(FrankaReachTask, num_envs=16, iterations=2, runs_dir=str(tmp_path),
                               progress=False, out=open(os.devnull, "w"))
    policy = course_lib.load_policy(res.checkpoint, task="franka_reach")
    assert policy.task == "FrankaReachTask" and policy.metadata["reference_task"] == "franka_reach"
    r = course_lib.evaluate("franka_reach", policy, episodes=4, seed=0)
    assert r.episodes == 4


def _rule_met(rows, window, target):
    """The stop rule, recomputed from metrics.csv's rows: the pooled success of the last ``window`` iterations, all
    of them iterations where an episode could also time out."""
    recent = rows[-window:]
    if len(recent) < window or not all(int(r["timeouts_possible"]) for r in recent):
        return False
    n = sum(int(r["episodes"]) for r in recent)
    wins = sum(float(r["success_rate"]) * int(r["episodes"]) for r in recent if int(r["episodes"]))
    return n > 0 and wins >= target * n


def test_stop_at_success_ends_training_once_the_rate_held(tmp_path):
    """A cart-pole whose episodes time out after 48 steps (3 iterations of 16): training stops at the first
    iteration where 90% of the episodes of the last 3 iterations were successes, not before and not after."""
    import io

    out = io.StringIO()
    r = course_lib.train("cartpole", num_envs=64, iterations=80, seed=0, runs_dir=str(tmp_path), progress=False,
                         out=out, max_episode_length=48, stop_at_success=0.9)
    assert r.stopped_early and r.iterations < 80
    rows = list(csv.DictReader(open(os.path.join(r.run_dir, "metrics.csv"))))
    assert [int(x["iteration"]) for x in rows] == list(range(1, r.iterations + 1))
    assert _rule_met(rows, 3, 0.9)
    assert not any(_rule_met(rows[:k], 3, 0.9) for k in range(1, len(rows)))
    assert f"Stopped at iteration {r.iterations}: " in out.getvalue()
    assert course_lib.load_policy(r.checkpoint).metadata["iteration"] == r.iterations


def test_stop_at_success_that_is_not_a_rate_is_refused_before_training(tmp_path):
    from course_lib.rl.observer import StopRule

    for bad in (0, 1.5, -0.1, "0.9", True):
        with pytest.raises(ValueError, match="stop_at_success must be a success rate in \\(0, 1\\]"):
            StopRule(bad)
    with pytest.raises(ValueError, match="stop_window must be a whole number"):
        StopRule(0.9, window=0)
    with pytest.raises(ValueError, match="stop_at_success"):
        course_lib.train("cartpole", num_envs=16, iterations=2, runs_dir=str(tmp_path), progress=False,
                         stop_at_success=95)
    assert not os.path.exists(tmp_path / "runs") and not os.listdir(tmp_path)
    r = course("train", "cartpole", "--iterations", "2", "--num-envs", "16", "--device", "cpu",
               "--stop-at-success", "95", cwd=tmp_path)
    assert r.returncode == 2 and "stop_at_success must be a success rate in (0, 1], e.g. 0.95; got 95.0" in r.stderr
    with pytest.raises(ValueError, match="stop_window=5 is the window of stop_at_success, which is not set"):
        course_lib.train("cartpole", num_envs=16, iterations=2, runs_dir=str(tmp_path), progress=False, stop_window=5)
    r = course("train", "cartpole", "--iterations", "2", "--num-envs", "16", "--device", "cpu", "--stop-window", "5",
               cwd=tmp_path)
    assert r.returncode == 2 and "--stop-window is the window of --stop-at-success" in r.stderr
    assert not os.path.exists(tmp_path / "runs")


@pytest.mark.parametrize("task, spread", [("franka_reach", True), ("cartpole", False)])
def test_first_episodes_start_spread_where_the_task_says(task, spread, tmp_path):
    """ppo.random_episode_start (the reach task's default): after the first rollout of 16 steps the environments
    are at many different steps of their episodes, not all at step 16; and every iteration counts its successes."""
    seen = {}

    def look(observer, it):
        if it == 1:
            seen["steps"] = observer.env.progress_buf.clone()
            seen["success_from"] = observer.success_from

    course_lib.train(task, num_envs=64, iterations=1, seed=0, runs_dir=str(tmp_path), progress=False,
                     out=open(os.devnull, "w"), callback=look)
    steps = seen["steps"]
    if spread:
        assert len(set(steps.tolist())) > 32 and int(steps.max()) > 250 and seen["success_from"] == 1
    else:
        assert set(steps.tolist()) <= {16} | set(range(16)) and seen["success_from"] == 32
