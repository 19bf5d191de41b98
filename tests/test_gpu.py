"""The CUDA path: the same physics on the GPU, eager, compiled and graph-captured.

Skipped on machines without CUDA (CI has none); run on the GPU machine, where
benchmarks/RESULTS.md records the outcome.
"""
import pytest
import torch

import course_lib
from course_lib.sim import asset_path, load_urdf

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _panda(n, device, dtype=torch.float32):
    arm = load_urdf(asset_path("franka_panda.urdf"), n, device=device, dtype=dtype)
    arm.damping.fill_(40.0)
    arm.armature.fill_(0.1)
    arm.gravity_compensation = True
    g = torch.Generator(device="cpu").manual_seed(0)
    q = arm.lower.cpu() + torch.rand(n, 7, generator=g, dtype=dtype) * (arm.upper - arm.lower).cpu()
    arm.set_state(None, q=q.to(device), qd=torch.zeros(n, 7, dtype=dtype, device=device))
    arm.vel_target.copy_((torch.rand(n, 7, generator=g, dtype=dtype) * 2 - 1).to(device))
    return arm


def test_cuda_dynamics_match_the_cpu_in_float64():
    cpu, gpu = _panda(256, "cpu", torch.float64), _panda(256, "cuda", torch.float64)
    qd = torch.randn(256, 7, dtype=torch.float64)
    tau = torch.randn(256, 7, dtype=torch.float64) * 5
    a_cpu = cpu.forward_dynamics(cpu.q, qd, tau)
    a_gpu = gpu.forward_dynamics(gpu.q, qd.cuda(), tau.cuda()).cpu()
    assert torch.allclose(a_cpu, a_gpu, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mode", ["graph", "compile", "compile+graph"])
def test_graph_and_compiled_steps_equal_eager(mode):
    eager, fast = _panda(1024, "cuda"), _panda(1024, "cuda")
    step_e = eager.make_stepper(1 / 60, 2, "eager")
    step_f = fast.make_stepper(1 / 60, 2, mode)
    for _ in range(50):
        step_e()
        step_f()
    torch.cuda.synchronize()
    assert torch.isfinite(fast.q).all()
    assert torch.allclose(eager.q, fast.q, atol=1e-4), (eager.q - fast.q).abs().max()
    # Targets changed in place are seen by the captured graph.
    fast.vel_target.zero_()
    eager.vel_target.zero_()
    for _ in range(100):
        step_e()
        step_f()
    assert torch.allclose(eager.qd, fast.qd, atol=1e-3)
    assert fast.qd.abs().max() < 0.05


@pytest.mark.parametrize("name", ["cartpole", "franka_reach"])
def test_tasks_step_on_cuda(name):
    env = course_lib.make(name, num_envs=4096, device="cuda", seed=0)
    for _ in range(100):
        obs, rew, resets, extras = env.step(torch.rand(4096, env.num_actions, device="cuda") * 2 - 1)
    assert obs.device.type == "cuda" and torch.isfinite(obs).all()
    assert extras["time_outs"].device.type == "cuda"


def test_tasks_with_graph_stepper_on_cuda():
    env = course_lib.make("franka_reach", num_envs=4096, device="cuda", seed=0, stepper_mode="graph")
    for _ in range(50):
        obs, *_ = env.step(torch.zeros(4096, 7, device="cuda"))
    assert torch.isfinite(obs).all()


def test_the_listing_on_cuda_fails_at_its_cpu_targets_and_runs_once_fixed():
    """On a GPU the listing's CPU tensors meet GPU buffers. Where it passes them to
    the library (set_joint_positions) the library moves them and warns; its own
    `self.targets[env_ids] = torch.rand(...)` is plain PyTorch and fails, as it
    would in Isaac Gym. With the fix the notebook teaches (device=self.device),
    it runs."""
    from pathlib import Path

    from course_lib.envs import ListingWarning
    from tests.listings.chapter_franka_reach import FrankaReachTask

    env = FrankaReachTask({"num_envs": 64}, sim_device="cuda:0", graphics_device_id=0, headless=True)
    with pytest.raises(RuntimeError, match="same device"):
        with pytest.warns(ListingWarning, match="on cpu but the environments are on cuda"):
            for _ in range(600):
                env.step(torch.rand(64, 7, device="cuda") * 2 - 1)

    src = (Path(__file__).parent / "listings" / "chapter_franka_reach.py").read_text()
    fixed = src.replace("torch.rand((len(env_ids), 3)) * 0.6 + torch.tensor([0.3, -0.3, 0.2])",
                        "torch.rand((len(env_ids), 3), device=self.device) * 0.6 "
                        "+ torch.tensor([0.3, -0.3, 0.2], device=self.device)")
    assert fixed != src
    namespace = {}
    exec(compile(fixed, "chapter_franka_reach_fixed.py", "exec"), namespace)
    env = namespace["FrankaReachTask"]({"num_envs": 64}, sim_device="cuda:0", graphics_device_id=0, headless=True)
    for _ in range(600):
        env.step(torch.rand(64, 7, device="cuda") * 2 - 1)
    assert env.get_joint_positions().device.type == "cuda"
    assert torch.isfinite(env.obs_buf).all()


def _reach_pair(mode, **cfg):
    a = course_lib.make("franka_reach", num_envs=4096, device="cuda", seed=3, stepper_mode=mode, **cfg)
    b = course_lib.make("franka_reach", num_envs=4096, device="cuda", seed=3, stepper_mode=mode, **cfg)
    a.fused_step = False
    return a, b


def _assert_same_steps(a, b, steps=40):
    """``a`` (the ordinary step) and ``b`` (the whole-step graph) give the same observations, rewards and dones on
    the same random actions."""
    g = torch.Generator(device="cuda").manual_seed(0)
    for _ in range(steps):
        act = 2 * torch.rand(4096, 7, generator=g, device="cuda") - 1
        oa, ra, da, _ = a.step(act)
        ob, rb, db, _ = b.step(act)
        assert torch.allclose(oa, ob, atol=1e-5, rtol=1e-5) and torch.allclose(ra, rb, atol=1e-5)
        assert torch.equal(da, db)
    assert b._step_graph is not None and a._step_graph is None


@pytest.mark.parametrize("mode", ["graph", "compile+graph"])
def test_the_whole_step_graph_equals_the_ordinary_step_without_resets(mode):
    _assert_same_steps(*_reach_pair(mode, success_radius=1e-6))


def test_the_whole_step_graph_resets_what_ended_and_keeps_statistics():
    _, b = _reach_pair("graph", max_episode_length=10, success_radius=1e-6)
    act = torch.full((4096, 7), 0.2, device="cuda")
    for k in range(10):
        if k == 0:
            b.step(act)
            b.progress_buf[:2048] = 0  # the first half one step behind
        else:
            obs, rew, done, ext = b.step(act)
    assert b._step_graph is not None
    assert done[2048:].all() and not done[:2048].any() and ext["time_outs"][2048:].all()
    assert float(ext["episode"]["length"]) == 10.0 and bool((b.progress_buf[2048:] == 0).all())
    t = b.targets[2048:]
    lo, hi = b.target_low, b.target_high
    assert bool(((t >= lo) & (t <= hi)).all()) and float(t.std(0).min()) > 0.1
    q = b.get_joint_positions()[2048:]
    assert bool(((q - b.home).abs() <= 0.15 + 1e-5).all()) and torch.allclose(obs[2048:, :7], q)


def _sparse_reward(distance):
    return 10.0 * (distance < 0.05).float()


def _improved_reward(distance, actions, collided, q, q_lower, q_upper):
    reward = -distance + 5.0 * (distance < 0.05).float() - 0.01 * torch.linalg.vector_norm(actions, dim=-1)
    reward = reward - 2.0 * collided.float()
    return reward - 0.1 * ((q < q_lower + 0.15) | (q > q_upper - 0.15)).sum(dim=-1).float()


@pytest.mark.parametrize("reward", [_sparse_reward, _improved_reward], ids=["sparse", "improved"])
def test_a_students_own_reward_in_the_whole_step_graph_equals_the_ordinary_step(reward):
    """Chapter 4's rewards are the student's functions (envs/franka_reach.own_reward): inside the whole-step CUDA
    graph they give the ordinary step's rewards and observations. No episode ends (a tiny success radius, no reset
    on collision): the graph's resets draw their random numbers for every environment at once, the ordinary step's
    for the reset ones only, so states differ after a first reset by design (as in the test above)."""
    a, b = _reach_pair("graph", success_radius=1e-6, reward=reward, reset_on_collision=False)
    _assert_same_steps(a, b)
    assert list(b.reward_terms) == [reward.__name__]
