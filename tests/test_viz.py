"""course_lib.viz: drawing, recording, animation, plots and widget panels (headless, Agg)."""
import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import course_lib  # noqa: E402
from course_lib import viz  # noqa: E402


def reach_policy(env, gain=4.0, lam=0.05):
    """A scripted reach controller (damped least squares on the TCP Jacobian): obs (N, 17) -> actions (N, 7)."""
    def policy(obs):
        q, err = obs[:, :7], obs[:, 14:17]
        J = env.robot.jacobian(q, "panda_hand_tcp")[:, :3]  # (N, 3, 7)
        A = J @ J.transpose(1, 2) + lam ** 2 * torch.eye(3, dtype=J.dtype)
        dq = J.transpose(1, 2) @ torch.linalg.solve(A, gain * err.unsqueeze(-1))
        return (dq.squeeze(-1) / env.robot.velocity_limit).clamp(-1.0, 1.0)
    return policy


@pytest.fixture(scope="module")
def reach_env():
    return course_lib.make("franka_reach", num_envs=8, seed=0)


@pytest.fixture(scope="module")
def rollout(reach_env):
    reach_env.reset()
    return viz.record_rollout(reach_env, reach_policy(reach_env), steps=149, envs=(0, 1, 2))


def axes3d(n=1):
    fig = Figure(figsize=(2.5 * n, 2.5), dpi=50)
    return [fig.add_subplot(1, n, i + 1, projection="3d") for i in range(n)]


# ------------------------------------------------------------------ drawing
def test_draw_arm_returns_artists_for_every_env(reach_env):
    pos, rot = reach_env.robot.forward_kinematics(reach_env.robot.q)
    axes = axes3d(reach_env.num_envs)
    for i, ax in enumerate(axes):
        art = viz.draw_arm(ax, pos, rot, env=i, target=reach_env.targets[i], path=pos[i, -1:].repeat(3, 1))
        artists = list(art)
        assert len(art.links) == 12 and len(art.tcp_axes) == 3 and art.ball is not None
        assert all(a.axes is ax for a in artists if hasattr(a, "axes"))
    axes[0].figure.savefig(io.BytesIO(), format="png")  # renders every arm
    # update moves the drawing: the TCP axis starts at the TCP of the env drawn
    art.update(pos, rot, env=0)
    x, y, z = art.tcp_axes[0].get_data_3d()
    np.testing.assert_allclose([x[0], y[0], z[0]], pos[0, -1].numpy(), atol=1e-6)


def test_capsules_drawn_where_the_collider_puts_them(reach_env):
    from course_lib.sim.collision import CapsuleCollider
    from course_lib.viz.draw import capsule_segments

    pos, rot = reach_env.robot.forward_kinematics(reach_env.robot.q)
    expected = CapsuleCollider(reach_env.robot).world_capsules(pos, rot).numpy()
    np.testing.assert_allclose(capsule_segments(pos, rot), expected, atol=1e-5)


def test_style_light_and_camera_offset():
    ax_plain, ax_moved = axes3d(2)
    pos, rot = np.zeros((11, 3)), np.tile(np.eye(3), (11, 1, 1))
    viz.draw_arm(ax_plain, pos, rot)
    art = viz.draw_arm(ax_moved, pos, rot, style=dict(camera_offset=(0.05, 0.0, 0.0), light=0.5,
                                                      link_color=(1.0, 1.0, 1.0)))
    assert ax_moved.get_xlim()[0] == pytest.approx(ax_plain.get_xlim()[0] - 0.05)
    assert art.links[0].get_color()[:3] == pytest.approx((0.5, 0.5, 0.5))  # white under half light
    assert set(viz.random_style(0)) <= set(viz.DEFAULT_STYLE)
    with pytest.raises(ValueError, match="unknown style"):
        viz.draw_arm(ax_plain, pos, rot, style=dict(colour="red"))


def test_draw_cartpole_obs_or_q_and_pole_matches_kinematics():
    env = course_lib.make("cartpole", num_envs=3, seed=0)
    q = torch.tensor([[0.5, 0.3], [-1.0, -0.8], [0.0, 0.0]])
    obs = torch.stack((q[:, 0], torch.zeros(3), q[:, 1], torch.zeros(3)), -1)
    pos, rot = env.robot.forward_kinematics(q)
    fig = Figure()
    for i in range(3):
        a = viz.draw_cartpole(fig.add_subplot(3, 2, 2 * i + 1), obs, env=i)
        b = viz.draw_cartpole(fig.add_subplot(3, 2, 2 * i + 2), q[i])
        assert len(list(a)) == 4
        np.testing.assert_allclose(a.pole.get_xydata(), b.pole.get_xydata())
        # the drawn pole tip (horizontal = world y, vertical = world z) is the URDF pole's end
        tip = pos[i, 2] + rot[i, 2] @ torch.tensor([0.0, 0.0, 0.97])
        np.testing.assert_allclose(a.pole.get_xydata()[-1], tip[1:].numpy(), atol=1e-5)
        assert a.cart.get_x() + a.cart.get_width() / 2 == pytest.approx(float(q[i, 0]))


# ---------------------------------------------------------------- recording
def test_record_rollout_steps_the_batch_once_per_step():
    env = course_lib.make("franka_reach", num_envs=6, seed=1)
    calls = {"step": 0, "policy": []}
    step = env.step

    def counted_step(actions):
        calls["step"] += 1
        return step(actions)

    def policy(obs):
        calls["policy"].append(tuple(obs.shape))
        return torch.zeros(env.num_envs, 7)

    env.step = counted_step
    for envs in ((0, 2, 5), range(6)):
        calls["step"], calls["policy"] = 0, []
        ro = viz.record_rollout(env, policy, steps=7, envs=envs)
        assert calls["step"] == 7 and calls["policy"] == [(6, 17)] * 7  # independent of how many are recorded
    E = 6
    assert ro.q.shape == (8, E, 7) and ro.link_pos.shape == (8, E, 11, 3) and ro.link_rot.shape == (8, E, 11, 3, 3)
    assert ro.actions.shape == (7, E, 7) and ro.rewards.shape == ro.dones.shape == (7, E)
    assert ro.tcp.shape == ro.targets.shape == (8, E, 3) and ro.kind == "arm"
    np.testing.assert_allclose(ro.tcp[-1], env.get_end_effector_position().numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="indices"):
        viz.record_rollout(env, policy, steps=1, envs=(6,))


def test_rollout_episodes_end_and_restart(rollout):
    assert rollout.successes.any(), "the scripted controller should reach some targets in 2.5 s"
    t, e = np.argwhere(rollout.dones)[0]
    start = rollout.episode_start()
    assert start[t + 1, e] == t + 1 and start[t, e] < t + 1
    assert not np.allclose(rollout.targets[t + 1, e], rollout.targets[t, e])  # a new target after the reset
    np.testing.assert_allclose(rollout.returns(), rollout.rewards.sum(0))


# ---------------------------------------------------------------- animation
def test_arm_animation_150_frames_fits_the_embed_limit(rollout):
    anim = viz.animate_rollout(rollout)  # 150 frames of 3 environments side by side
    assert len(anim.frame_indices) == 150
    html = viz.to_html(anim)
    limit = matplotlib.rcParams["animation.embed_limit"] * 1024 * 1024
    assert html.count("data:image/png;base64") == 150
    assert len(html) < limit
    print(f"150-frame 3-env arm animation: {len(html) / 1e6:.2f} MB of HTML")


def test_animation_subsamples_and_shrinks_to_a_small_limit(rollout):
    anim = viz.animate_rollout(rollout, layout="overlay", max_frames=40)
    assert len(anim.frame_indices) == 38 and anim.frame_indices[-1] == 148  # every 4th of 150 frames
    dpi = anim._fig.dpi
    html = viz.to_html(anim, embed_limit_mb=0.5)
    assert len(html) < 0.5 * 1024 * 1024 and anim._fig.dpi < dpi
    with pytest.raises(ValueError, match="embed_limit"):
        viz.to_html(viz.animate_rollout(rollout, max_frames=40), embed_limit_mb=0.02)


def test_cartpole_animation_every_frame():
    env = course_lib.make("cartpole", num_envs=4, seed=0)
    ro = viz.record_rollout(env, lambda obs: torch.ones(4, 1), steps=60, envs=(1, 3))
    assert ro.kind == "cartpole" and ro.dones.any()  # pushed off the track
    anim = viz.animate_rollout(ro, style=[None, viz.random_style(1)], max_frames=31)
    assert viz.to_html(anim).count("data:image/png;base64") == len(anim.frame_indices) == 31


# -------------------------------------------------------------------- plots
def _write_run(tmp_path):
    (tmp_path / "metrics.csv").write_text(
        "iteration,env_steps,episodes,mean_reward,success_rate,episode_length\n"
        "1,1024,0,,,\n2,2048,3,-1.5,0.0,120\n3,3072,5,-0.9,0.2,80\n4,4096,8,-0.4,0.6,40\n")
    (tmp_path / "timing.csv").write_text(
        "iteration,env_steps,wall_time_s,iteration_s,fps\n1,1024,0.1,0.1,10000\n2,2048,0.2,0.1,11000\n"
        "3,3072,0.3,0.1,12000\n4,4096,0.4,0.1,12500\n")
    return tmp_path


def test_plot_training_curves_from_a_run(tmp_path):
    run = _write_run(tmp_path)
    axes = viz.plot_training_curves(run / "metrics.csv")
    titles = [a.get_title() for a in axes]
    assert titles == ["mean episode reward", "success rate (%)", "FPS (env steps / s)", "episode length (steps)"]
    assert len(axes[0].lines[0].get_xdata()) == 3  # the empty first row is skipped
    np.testing.assert_allclose(axes[1].lines[0].get_ydata(), [0, 20, 60])
    assert len(axes[2].lines[0].get_xdata()) == 4  # fps merged from timing.csv
    fig = Figure()
    ax = fig.add_subplot()
    assert viz.plot_training_curves({"iteration": [1, 2], "success_rate": [0.1, 0.3]}, ax=ax) == [ax]
    with pytest.raises(ValueError, match="expected columns"):
        viz.plot_training_curves([{"epoch": 1, "loss": 0.3}])


def test_the_trainers_png_uses_the_same_curves(tmp_path):
    from course_lib.rl.plotting import save_training_curves

    (tmp_path / "run").mkdir()
    run = _write_run(tmp_path / "run")
    fig = Figure()
    axes = [fig.add_subplot(1, 3, i + 1) for i in range(3)]
    viz.plot_training_curves(run, ax=axes, keys=("success_rate", "mean_reward", "episode_length"), x="env_steps",
                             smooth=True)
    # smooth: the running mean (over ~5% of the run: 1 point of 3 here, the points themselves) and the points
    np.testing.assert_allclose(axes[0].lines[0].get_xdata(), [2048, 3072, 4096])
    np.testing.assert_allclose(axes[0].lines[0].get_ydata(), [0, 20, 60])
    np.testing.assert_allclose(axes[0].lines[1].get_ydata(), [0, 20, 60])
    assert axes[0].get_xlabel() == "environment steps"
    path = save_training_curves(str(run))
    assert path == str(run / "training_curves.png") and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    empty = tmp_path / "empty"  # a run stopped before its first iteration: empty panels, not an error
    empty.mkdir()
    (empty / "metrics.csv").write_text("iteration,env_steps,episodes,mean_reward,success_rate,episode_length\n")
    assert open(save_training_curves(str(empty)), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="x column 'steps' not in the metrics"):
        viz.plot_training_curves(run, x="steps")


def test_running_mean_of_the_trainers_png():
    from course_lib.rl.plotting import _running_mean

    y = np.arange(40, dtype=float)  # k = 2: the mean of each point and the one before it
    np.testing.assert_allclose(_running_mean(y), np.concatenate(([0.0], np.arange(1, 40) - 0.5)))


def test_live_plot_as_callback():
    live = viz.LivePlot(every_s=0.0)
    for it in range(1, 4):
        live({"iteration": it, "mean_reward": -1.0 / it, "success_rate": 0.1 * it, "fps": 1000.0})

    class Observer:  # what the trainer passes: callback(observer, iteration)
        rows = [{"iteration": 4, "mean_reward": -0.2, "success_rate": 0.5}]
        timing = [{"iteration": 4, "fps": 1200.0}]

    live(Observer(), 4)
    assert len(live.lines["mean_reward"].get_xdata()) == 4
    assert live.lines["fps"].get_ydata()[-1] == 1200.0
    assert live.lines["success_rate"].get_ydata()[-1] == pytest.approx(50.0)


def test_success_map_marks_unreachable_targets():
    rng = np.random.default_rng(0)
    targets = rng.uniform((0.3, -0.3, 0.2), (0.9, 0.3, 0.8), (200, 3))
    reach = np.linalg.norm(targets - np.array(viz.plots.PANDA_SHOULDER), axis=1)
    success = reach < 0.8
    axes = viz.plot_success_map(torch.as_tensor(targets), torch.as_tensor(success))
    assert len(axes) == 2
    beyond = int((reach > viz.PANDA_TCP_REACH).sum())
    assert beyond > 0 and f"{beyond} beyond" in axes[0].figure._suptitle.get_text()
    assert sum(len(c.get_offsets()) for c in axes[0].collections) == 200


# ------------------------------------------------------------------ widgets
def test_target_panel_go_rolls_out_and_redraws():
    pytest.importorskip("ipywidgets")
    env = course_lib.make("franka_reach", num_envs=3, seed=2)
    panel = viz.target_panel(env, reach_policy(env), steps=30, env_id=1)
    panel.sliders["x"].value, panel.sliders["y"].value, panel.sliders["z"].value = 0.5, 0.1, 0.4
    ro = panel.on_go()
    np.testing.assert_allclose(ro.targets[0, 0], [0.5, 0.1, 0.4], atol=1e-6)
    assert ro.env_ids.tolist() == [1]
    path1 = np.array(panel.artists.path.get_data_3d())
    status1 = panel.status.value
    panel.sliders["env"].value = 2
    panel.sliders["y"].value = -0.2
    panel.go.click()  # the button calls on_go
    path2 = np.array(panel.artists.path.get_data_3d())
    assert panel.rollout.env_ids.tolist() == [2] and panel.status.value != status1
    assert path1.shape != path2.shape or not np.allclose(path1, path2)
    np.testing.assert_allclose(np.array(panel.artists.target.get_data_3d()).ravel(), [0.5, -0.2, 0.4], atol=1e-6)


def test_reward_weights_panel_recomputes(rollout):
    pytest.importorskip("ipywidgets")
    # with the task's own weights the recomputed reward is the recorded one
    np.testing.assert_allclose(viz.reach_reward_from_rollout(rollout), rollout.rewards, atol=1e-5)
    panel = viz.reward_weights_panel(rollout)
    assert set(panel.sliders) == {"distance_weight", "action_penalty", "success_bonus", "success_radius"}
    before = panel.return_lines[0].get_ydata().copy()
    label = panel.label.value
    panel.sliders["success_bonus"].value = 0.0  # observe() calls update
    after = panel.return_lines[0].get_ydata()
    assert not np.allclose(before, after) and panel.label.value != label
    np.testing.assert_allclose(panel.reward, viz.reach_reward_from_rollout(rollout, success_bonus=0.0))


def test_env_styles_show_a_randomized_task_as_a_camera_would_see_it():
    from course_lib.envs.randomization import CHAPTER_VISUALS, merge_params, randomize

    env = course_lib.make("franka_reach", num_envs=6, seed=0)
    nominal = viz.env_styles(env, (0,))[0]
    assert nominal["light"] == 1.0 and nominal["camera_offset"] == (0.0, 0.0, 0.0)
    randomize(env, merge_params(CHAPTER_VISUALS, {"actor_params": {"franka": {"color": True}}}), seed=1)
    styles = viz.env_styles(env, (2, 4))
    for k, i in enumerate((2, 4)):
        assert styles[k]["light"] == pytest.approx(float(env.light_intensity[i]) / 2000.0)
        assert 0.5 <= styles[k]["light"] <= 1.5
        assert styles[k]["target_color"] == pytest.approx(env.object_color[i].tolist())
        assert styles[k]["link_color"] == pytest.approx(env.robot_color[i, 0].tolist())
        assert styles[k]["camera_offset"] == pytest.approx(env.camera_offset[i].tolist())
    assert styles[0] != styles[1]
    # the drawing follows them: the view box moves by the camera offset, the target takes the object's colour
    ax_plain, ax_env = axes3d(2)
    pos, rot = env.robot.forward_kinematics(env.robot.q)
    viz.draw_arm(ax_plain, pos, rot, env=2)
    art = viz.draw_arm(ax_env, pos, rot, env=2, target=env.targets[2], style=styles[0])
    dx = styles[0]["camera_offset"][0]
    assert ax_env.get_xlim()[0] == pytest.approx(ax_plain.get_xlim()[0] - dx)
    light = styles[0]["light"]
    want = np.array(styles[0]["target_color"])
    want = want * light if light <= 1 else want + (1 - want) * (light - 1)
    assert art.target.get_color()[:3] == pytest.approx(tuple(np.clip(want, 0, 1)))
    with pytest.raises(ValueError, match="envs must be indices"):
        viz.env_styles(env, (6,))
