"""TargetCurriculum: the box of every stage in closed form, stage changes on the rolling success rate, and the
training hook (the task's own reset draws targets from the widened box)."""
import types

import pytest
import torch

import course_lib
from course_lib.envs import PANDA_HOME, make
from course_lib.envs.curriculum import PANDA_HOME_TCP, TargetCurriculum

torch.set_num_threads(1)

LOW, HIGH = (0.3, -0.3, 0.2), (0.9, 0.3, 0.8)


def test_home_tcp_is_the_forward_kinematics_of_the_home_pose():
    env = make("franka_reach", num_envs=1, seed=0)
    env.set_joint_positions(torch.arange(1), torch.tensor(PANDA_HOME)[None])
    assert torch.allclose(env.get_end_effector_position()[0], torch.tensor(PANDA_HOME_TCP), atol=1e-4)


def test_boxes_shrink_around_the_start_and_end_at_the_full_box():
    c = TargetCurriculum(LOW, HIGH, start=(0.6, 0.0, 0.5), start_scale=0.2, stages=5)
    start, low, high = torch.tensor([0.6, 0.0, 0.5]), torch.tensor(LOW), torch.tensor(HIGH)
    for k in range(5):
        c.stage_t.fill_(k)
        s = 0.2 + 0.8 * k / 4
        lo, hi = c.box()
        assert torch.allclose(lo, start + s * (low - start)) and torch.allclose(hi, start + s * (high - start))
    assert torch.allclose(c.box()[0], low) and torch.allclose(c.box()[1], high)
    c.stage_t.fill_(0)
    t = c.sample(4000, torch.Generator().manual_seed(0))
    lo, hi = c.box()
    assert t.shape == (4000, 3) and bool(((t >= lo) & (t <= hi)).all())
    assert torch.allclose(t.mean(0), (lo + hi) / 2, atol=0.01)  # uniform in the small box


def test_stage_advances_only_on_a_full_window_above_the_threshold():
    c = TargetCurriculum(LOW, HIGH, stages=3, threshold=0.8, window=3, min_episodes=10)
    for s, e in ((9, 10), (9, 10)):  # 90 %, but the window is not full yet
        c.update(s, e)
    assert c.stage == 0
    c.update(5, 10)  # window: 23 of 30 = 77 % < 80 %
    assert c.stage == 0 and abs(float(c.rolling_success()) - 23 / 30) < 1e-12
    c.update(10, 10)  # window: 24 of 30 = 80 %
    assert c.stage == 1 and bool(torch.isnan(c.rolling_success()))  # history cleared
    for _ in range(3):
        c.update(0, 0)  # no episode ended: no evidence, no change
    assert c.stage == 1
    for _ in range(3):
        c.update(3, 3)  # 100 % but only 9 episodes < min_episodes
    assert c.stage == 1
    c.update(10, 10)
    assert c.stage == 2
    for _ in range(6):
        c.update(10, 10)
    assert c.stage == 2  # the last stage is the full box: it stays


@pytest.mark.parametrize("kwargs, match", [
    ({"low": (0.9, -0.3, 0.2)}, "low < high"),
    ({"start": (0.0, 0.0, 0.5)}, "must lie in the target box"),
    ({"start_scale": 0.0}, "start_scale"),
    ({"threshold": 80}, "success rate in"),
    ({"low": (0.3, -0.3)}, "3 finite numbers"),
])
def test_bad_settings_say_what_is_wrong(kwargs, match):
    args = {"low": LOW, "high": HIGH, **kwargs}
    with pytest.raises(ValueError, match=match):
        TargetCurriculum(**args)


def test_update_rejects_more_successes_than_episodes():
    with pytest.raises(ValueError, match="between 0 and episodes"):
        TargetCurriculum(LOW, HIGH).update(5, 3)


def test_the_hook_widens_the_tasks_box_and_reset_draws_from_it():
    env = make("franka_reach", num_envs=512, seed=0)
    c = TargetCurriculum.for_task(env, stages=2, window=1, min_episodes=1, threshold=0.5)
    observer = types.SimpleNamespace(rows=[{"episodes": 0, "success_rate": None}], env=env, writer=None)
    c(observer, 1)
    env.reset()
    lo, hi = c.box()
    assert bool(((env.targets >= lo) & (env.targets <= hi)).all())
    assert float((env.targets - torch.tensor(PANDA_HOME_TCP)).abs().max()) <= 0.2 * 0.4 + 1e-5  # 20 % box
    observer.rows.append({"episodes": 40, "success_rate": 0.75})
    c(observer, 2)
    assert c.stage == 1 and c.history == [(2, 1)]
    assert torch.allclose(env.target_low, torch.tensor(LOW)) and torch.allclose(env.target_high, torch.tensor(HIGH))
    env.reset()
    assert float(env.targets[:, 0].max() - env.targets[:, 0].min()) > 0.5  # the whole 0.6 m box again


def test_train_with_the_curriculum_as_callback(tmp_path):
    env = make("franka_reach", num_envs=16, seed=0)
    c = TargetCurriculum.for_task(env)
    course_lib.train(env, iterations=2, device="cpu", seed=0, runs_dir=str(tmp_path), name="cur", progress=False,
                     callback=c, out=open(tmp_path / "log.txt", "w"))
    assert c.stage == 0 and float(env.target_high[0] - env.target_low[0]) == pytest.approx(0.2 * 0.6, abs=1e-5)
