"""Domain randomization: the Isaac Gym schema, its statistics, its application per env, latency, noise, sag."""
import copy
import math

import pytest
import torch

from course_lib.envs import make
from course_lib.envs.latency import ActionLatency
from course_lib.envs.randomization import (
    CHAPTER_OBSERVATION_NOISE, CHAPTER_PHYSICS, CHAPTER_RANDOMIZATION, CHAPTER_VISUALS, EXERCISE5_TEST_SET,
    DomainRandomizer, ParamSpec, RandomizationError, RandomizationParams, merge_params, randomize, sag_demo,
    sample_values, unrandomize,
)

BIG = 100_000


def spec(**kw):
    d = {"range": [0.8, 1.2], "operation": "scaling", "distribution": "uniform"}
    d.update(kw)
    return d


def dof(attr="damping", **kw):
    return {"actor_params": {"franka": {"dof_properties": {attr: spec(**kw)}}}}


def reach(n=16, **kw):
    return make("franka_reach", num_envs=n, seed=kw.pop("seed", 3), **kw)


@pytest.fixture(scope="module")
def big():
    """100k environments randomized with the chapter's preset, drawn once (no stepping: fast)."""
    env = make("franka_reach", num_envs=BIG, seed=0)
    randomize(env, CHAPTER_RANDOMIZATION, seed=123)
    return env


# ------------------------------------------------------------------ schema
BAD = [
    (dof(operation="multiply"),
     r"^randomization_params\.actor_params\.franka\.dof_properties\.damping\.operation: 'multiply' is not one of "
     r"\['additive', 'scaling'\]$"),
    (dof(distribution="normal"),
     r"damping\.distribution: 'normal' is not one of \['uniform', 'gaussian', 'loguniform'\]"),
    ({"observation": {}}, r"^randomization_params: unknown key 'observation' \(did you mean 'observations'\?\)"),
    ({"actor_params": {"franka": {"dof_properties": {"dampng": spec()}}}},
     r"dof_properties: unknown key 'dampng' \(did you mean 'damping'\?\); allowed: \['damping'"),
    ({"actor_params": {"franka": {"dof_properties": {"lower": spec()}}}},
     r"dof_properties\.lower: not supported: joint limits are shared by all environments"),
    ({"actor_params": {"franka": {"scale": spec()}}}, r"franka\.scale: not supported"),
    ({"actor_params": {"franka": {"rigid_body_properties": {"mass": {"operation": "scaling",
                                                                     "distribution": "uniform"}}}}},
     r"mass: missing 'range'"),
    (dof(operation=None), r"operation: None is not one of"),
    ({"actor_params": {"franka": {"dof_properties": {"damping": {"range": [1, 2], "distribution": "uniform"}}}}},
     r"damping: missing 'operation' \(one of \['additive', 'scaling'\]\)"),
    ({"actor_params": {"franka": {"dof_properties": {"damping": {"range": [1, 2], "operation": "additive"}}}}},
     r"damping: missing 'distribution'"),
    (dof(range=[1.0]), r"damping\.range: must be a list of two numbers"),
    (dof(range="0.8 1.2"), r"damping\.range: must be a list of two numbers"),
    (dof(range=[1.2, 0.8]), r"damping\.range: a uniform range is \[low, high\] with low <= high"),
    (dof(range=[0.0, -0.1], distribution="gaussian"), r"the std must be >= 0"),
    (dof(range=[0.0, 2.0], distribution="loguniform"), r"loguniform range needs 0 < low"),
    (dof(range=[0.5, float("nan")]), r"damping\.range\[1\]: must be a finite number"),
    (dof(schedule="linear"), r"schedule 'linear' needs 'schedule_steps'"),
    (dof(schedule_steps=100), r"schedule_steps: given without 'schedule'"),
    (dof(schedule="exponential", schedule_steps=100), r"schedule: 'exponential' is not one of \['linear', 'constant'\]"),
    (dof(schedule="linear", schedule_steps=0), r"schedule_steps: must be a positive integer"),
    (dof(shared="yes"), r"shared: must be true or false"),
    ({"frequency": -1}, r"frequency: must be a non-negative integer"),
    ({"frequency": 2.5}, r"frequency: must be a non-negative integer"),
    ({"observations": spec(distribution="loguniform", range=[0.1, 1])},
     r"observations\.distribution: 'loguniform' is not one of \['uniform', 'gaussian'\]"),
    ({"observations": spec(operation="scaling", range=[1, 0.1], distribution="gaussian",
                           range_correlated=[1, 0.01])}, r"range_correlated: is supported with operation 'additive'"),
    ({"observations": {"pos": {"range": [0, 1], "operation": "additive", "distribution": "gaussian"}}},
     r"observations\.pos: a noise group needs 'slice"),
    ({"observations": {"pos": {"slice": [7, 3], "range": [0, 1], "operation": "additive",
                               "distribution": "gaussian"}}}, r"observations\.pos\.slice: must be \[start, stop\]"),
    ({"observations": {}}, r"observations: is empty"),
    ({"sim_params": {"dt": spec()}}, r"sim_params: unknown key 'dt'.*allowed: \['gravity'\]"),
    ({"actuation_latency": {"range": [0, 1.5]}}, r"actuation_latency\.range: must be \[min, max\] control steps"),
    ({"actuation_latency": {"range": [3, 1]}}, r"actuation_latency\.range"),
    ({"actuation_latency": {}}, r"actuation_latency: missing 'range'"),
    ({"actuation_latency": {"range": [0, 2], "distribution": "gaussian"}},
     r"actuation_latency\.distribution: 'gaussian' is not one of \['uniform'\]"),
    ({"actor_params": {"franka": {"color": "red"}}}, r"franka\.color: must be true or false"),
    ({"visuals": {"fog": spec()}}, r"visuals: unknown key 'fog'.*\['light_intensity', 'camera_offset'\]"),
    ({"actor_params": {"franka": ["mass"]}}, r"actor_params\.franka: must be a mapping"),
    ([1, 2], r"^randomization_params: must be a mapping"),
]


@pytest.mark.parametrize("params,message", BAD)
def test_bad_schema_is_a_clear_error_naming_the_path(params, message):
    with pytest.raises(RandomizationError, match=message):
        RandomizationParams.from_dict(params)


def test_errors_that_need_the_task_name_what_it_has():
    env = reach(4)
    with pytest.raises(RandomizationError, match=r"actor_params\.kuka: no actor 'kuka' in FrankaReachTask; "
                                                 r"actors: 'franka_panda' \(aliases \['robot', 'franka', 'panda'\]\)"):
        DomainRandomizer(env, {"actor_params": {"kuka": {"color": True}}})
    with pytest.raises(RandomizationError, match=r"observations\.x\.slice: \[10, 20\] goes past the end.*num_obs = 17"):
        DomainRandomizer(env, {"observations": {"x": {"slice": [10, 20], "range": [0, 1], "operation": "additive",
                                                      "distribution": "gaussian"}}})
    with pytest.raises(RandomizationError, match=r"actor_params\.object: .*supports 'color' only"):
        DomainRandomizer(env, {"actor_params": {"object": {"dof_properties": {"damping": spec()}}}})
    cart = make("cartpole", num_envs=4, seed=0)
    with pytest.raises(RandomizationError, match=r"no actor 'franka' in CartpoleTask"):
        DomainRandomizer(cart, CHAPTER_PHYSICS)
    DomainRandomizer(cart, {"actor_params": {"cartpole": {"rigid_body_properties": {"mass": spec()}}}}).apply()


def test_presets_validate_and_round_trip():
    for preset in (CHAPTER_PHYSICS, CHAPTER_OBSERVATION_NOISE, CHAPTER_VISUALS, CHAPTER_RANDOMIZATION,
                   EXERCISE5_TEST_SET):
        p = RandomizationParams.from_dict(preset)
        assert not p.empty
        again = RandomizationParams.from_dict(p.to_dict())
        assert again.to_dict() == p.to_dict()
    # Isaac Gym's task-config form, with its on/off switch
    cfg = {"randomize": False, "randomization_params": CHAPTER_PHYSICS}
    assert RandomizationParams.coerce(cfg).empty
    assert not RandomizationParams.coerce({"randomize": True, "randomization_params": CHAPTER_PHYSICS}).empty
    # Isaac Gym's single-spec observation noise form
    p = RandomizationParams.from_dict({"observations": {"range": [0, 0.002], "operation": "additive",
                                                        "distribution": "gaussian"}})
    assert len(p.observations) == 1 and p.observations[0].slice is None


def test_merge_params_is_deep_and_does_not_alias():
    merged = merge_params(CHAPTER_PHYSICS, CHAPTER_VISUALS)
    assert set(merged["actor_params"]) == {"franka", "object"}
    merged["actor_params"]["franka"]["dof_properties"]["friction"]["range"][0] = 99
    assert CHAPTER_PHYSICS["actor_params"]["franka"]["dof_properties"]["friction"]["range"][0] == 0.01


# ---------------------------------------------------------------- sampling
def _gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


@pytest.mark.parametrize("dist,rng", [("uniform", (0.8, 1.2)), ("gaussian", (0.5, 0.1)), ("loguniform", (0.3, 3.0))])
def test_distributions_have_the_documented_moments(dist, rng):
    s = ParamSpec(path="p", range=rng, operation="scaling", distribution=dist)
    x = sample_values(s, (400_000,), _gen(), dtype=torch.float64)
    a, b = rng
    if dist == "uniform":
        assert a <= x.min() and x.max() <= b
        assert abs(x.mean() - (a + b) / 2) < 2e-3 and abs(x.std() - (b - a) / math.sqrt(12)) < 2e-3
    elif dist == "gaussian":  # [mean, std]: Isaac Gym's "var" is a standard deviation
        assert abs(x.mean() - a) < 2e-3 and abs(x.std() - b) < 2e-3
    else:
        lx = x.log()
        assert a <= x.min() and x.max() <= b
        assert abs(lx.mean() - (math.log(a) + math.log(b)) / 2) < 1e-2
        assert abs(lx.std() - (math.log(b) - math.log(a)) / math.sqrt(12)) < 1e-2


def test_linear_schedule_at_start_half_and_end():
    sc = ParamSpec(path="p", range=(0.5, 1.5), operation="scaling", distribution="uniform", schedule="linear",
                   schedule_steps=1000)
    ad = ParamSpec(path="p", range=(0.0, 0.2), operation="additive", distribution="gaussian", schedule="linear",
                   schedule_steps=1000)
    assert sc.scheduled(0) == (1.0, 1.0) and sc.scheduled(500) == (0.75, 1.25) and sc.scheduled(1000) == (0.5, 1.5)
    assert sc.scheduled(5000) == (0.5, 1.5)
    assert ad.scheduled(0) == (0.0, 0.0) and ad.scheduled(500) == (0.0, 0.1) and ad.scheduled(1000) == (0.0, 0.2)
    assert torch.equal(sample_values(sc, (1000,), _gen(), step=0), torch.ones(1000))
    half = sample_values(sc, (100_000,), _gen(), step=500)
    assert 0.75 <= half.min() < 0.751 and 1.249 < half.max() <= 1.25
    assert abs(sample_values(ad, (100_000,), _gen(), step=500).std() - 0.1) < 2e-3
    gs = ParamSpec(path="p", range=(1.0, 0.2), operation="scaling", distribution="gaussian", schedule="linear",
                   schedule_steps=10)
    assert gs.scheduled(5) == (1.0, 0.1)
    const = ParamSpec(path="p", range=(0.5, 1.5), operation="scaling", distribution="uniform", schedule="constant",
                      schedule_steps=100)
    assert const.scheduled(99) == (1.0, 1.0) and const.scheduled(100) == (0.5, 1.5)


def test_schedule_in_an_env_follows_the_step_counter():
    env = reach(2000)
    p = dof("damping", range=[0.5, 1.5], schedule="linear", schedule_steps=100)
    dr = DomainRandomizer(env, p, seed=0)
    kd0 = dr.nominal["damping"]
    dr.apply(force=True)
    assert torch.equal(env.robot.damping, kd0)  # step 0: no randomization yet
    dr.step_count = 50
    dr.apply(force=True)
    r = env.robot.damping / kd0
    assert 0.75 <= r.min() < 0.76 and 1.24 < r.max() <= 1.25
    dr.step_count = 100
    dr.apply(force=True)
    r = env.robot.damping / kd0
    assert 0.5 <= r.min() < 0.51 and 1.49 < r.max() <= 1.5


# ----------------------------------------------- per-env values, 100k envs
def test_chapter_physics_ranges_are_respected(big):
    nom = big._dr_nominal
    m0, m = nom["link_mass"], big.robot.link_mass
    heavy = m0[0] > 0
    ratio = m[:, heavy] / m0[:, heavy]
    assert 0.8 <= ratio.min() and ratio.max() <= 1.2
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio))  # one scale per env (the listing's mass_scale)
    # inertias scale with the mass, relative to the nominal
    iratio = big.robot.link_inertia[:, heavy, 0, 0] / nom["link_inertia"][:, heavy, 0, 0]
    assert torch.allclose(iratio, ratio, rtol=1e-5)
    f, b, s = big.robot.joint_friction, big.robot.joint_damping, big.surface_friction
    assert 0.01 <= f.min() and f.max() <= 0.1 and 0.1 <= b.min() and b.max() <= 0.6
    assert 0.5 <= s.min() and s.max() <= 1.0
    for x, lo, hi in ((ratio[:, 0], 0.8, 1.2), (f[:, 0], 0.01, 0.1), (b[:, 0], 0.1, 0.6), (s, 0.5, 1.0)):
        assert abs(float(x.mean()) - (lo + hi) / 2) < 0.01 * (hi - lo)
        assert abs(float(x.std()) - (hi - lo) / math.sqrt(12)) < 0.01 * (hi - lo)
    # the drives were not touched
    assert torch.equal(big.robot.damping, nom["damping"])


def test_values_are_independent_across_envs_and_parameters(big):
    def corr(a, b):
        a, b = a - a.mean(), b - b.mean()
        return float((a * b).mean() / (a.std() * b.std()))

    ratio = big.robot.link_mass[:, 1] / big._dr_nominal["link_mass"][:, 1]
    f, s = big.robot.joint_friction[:, 0], big.surface_friction
    assert len(torch.unique(ratio)) > 0.95 * BIG  # different envs get different values (float32 ties aside)
    for x in (ratio, f, s, big.light_intensity):
        assert abs(corr(x[:-1], x[1:])) < 0.02  # neighbours uncorrelated
    assert abs(corr(ratio, f)) < 0.02 and abs(corr(f, s)) < 0.02 and abs(corr(ratio, s)) < 0.02


def test_chapter_visuals(big):
    li, col, cam = big.light_intensity, big.object_color, big.camera_offset
    assert li.shape == (BIG,) and col.shape == (BIG, 3) and cam.shape == (BIG, 3)
    assert 1000 <= li.min() and li.max() <= 3000 and abs(float(li.mean()) - 2000) < 10
    assert 0 <= col.min() and col.max() <= 1 and abs(float(col.mean()) - 0.5) < 0.01
    assert cam.abs().max() <= 0.05 and abs(float(cam.std()) - 0.1 / math.sqrt(12)) < 1e-3


def test_chapter_observation_noise_has_the_listing_stds_per_slice(big):
    obs = torch.zeros(BIG, 17)
    out = big.randomizer.noise_obs(obs)  # the preset CHAPTER_OBSERVATION_NOISE, as data
    assert out is not obs and not bool(obs.any())  # a new tensor
    std, mean = out.std(0), out.mean(0)
    expected = torch.tensor([0.001] * 7 + [0.01] * 7 + [0.01] * 3)
    assert torch.allclose(std, expected, rtol=0.02)
    assert (mean.abs() < 4 * expected / math.sqrt(BIG)).all()


def test_unshared_mass_draws_one_sample_per_link_like_isaac_gym():
    env = reach(5000)
    dr = DomainRandomizer(env, {"actor_params": {"franka": {"rigid_body_properties": {"mass": spec()}}}}, seed=1)
    dr.apply()
    r = env.robot.link_mass[:, 1:8] / dr.nominal["link_mass"][:, 1:8]
    assert (r.std(1) > 0).all() and 0.8 <= r.min() and r.max() <= 1.2
    c = torch.corrcoef(r.T)
    assert (c - torch.eye(7)).abs().max() < 0.06


# ------------------------------------------------------ seeds, selection
def test_same_seed_same_values_other_seed_other_values():
    def draw(seed):
        env = reach(64, seed=5)
        randomize(env, merge_params(CHAPTER_RANDOMIZATION, {"actuation_latency": {"range": [0, 3]}}), seed=seed)
        return [env.robot.link_mass.clone(), env.robot.joint_friction.clone(), env.surface_friction.clone(),
                env.light_intensity.clone(), env.randomizer.latency.delay.clone(), env.obs_buf.clone()]

    a, b, c = draw(7), draw(7), draw(8)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not any(torch.equal(x, y) for x, y in zip(a[:4], c[:4]))


def test_adding_a_parameter_does_not_change_the_others_draws():
    env1, env2 = reach(32), reach(32)
    randomize(env1, CHAPTER_PHYSICS, seed=3)
    randomize(env2, merge_params(CHAPTER_PHYSICS, dof("stiffness")), seed=3)
    assert torch.equal(env1.robot.link_mass, env2.robot.link_mass)
    assert torch.equal(env1.robot.joint_friction, env2.robot.joint_friction)


def test_seed_none_comes_from_the_task_seed_and_leaves_its_generator_alone():
    env1, env2, plain = reach(16, seed=11), reach(16, seed=11), reach(16, seed=11)
    randomize(env1, CHAPTER_PHYSICS)
    randomize(env2, CHAPTER_PHYSICS)
    assert torch.equal(env1.robot.link_mass, env2.robot.link_mass)
    assert torch.equal(env1.rng.get_state(), plain.rng.get_state())


def test_apply_changes_only_the_selected_envs():
    env = reach(32)
    dr = DomainRandomizer(env, merge_params(CHAPTER_RANDOMIZATION, dof("stiffness"), dof("damping"),
                                            {"actuation_latency": {"range": [1, 4]}}), seed=0)
    names = ["link_mass", "link_inertia", "joint_friction", "joint_damping", "damping"]
    env_names = ["surface_friction", "light_intensity", "object_color", "camera_offset"]

    def snap():
        return ([getattr(env.robot, n).clone() for n in names] + [getattr(env, n).clone() for n in env_names]
                + [dr.latency.delay.clone()])

    before = snap()
    ids = torch.tensor([3, 7, 20])
    dr.apply(ids)
    after = snap()
    others = torch.ones(32, dtype=torch.bool)
    others[ids] = False
    for x, y in zip(before, after):
        assert torch.equal(x[others], y[others])
        assert not torch.equal(x[ids], y[ids])
    # the other drives' stiffness stays 0 * scale = 0: scaling a zero changes nothing
    assert torch.equal(env.robot.stiffness, torch.zeros_like(env.robot.stiffness))


def test_repeated_draws_do_not_compound():
    env = reach(2000)
    dr = DomainRandomizer(env, CHAPTER_PHYSICS, seed=0)
    m0, I0 = dr.nominal["link_mass"], dr.nominal["link_inertia"]
    for _ in range(10):
        dr.apply(force=True)
    r = env.robot.link_mass[:, 1:8] / m0[:, 1:8]
    assert 0.8 <= r.min() and r.max() <= 1.2 and abs(float(r.mean()) - 1.0) < 0.01
    assert torch.allclose(env.robot.link_inertia[:, 1:8] / I0[:, 1:8].where(I0[:, 1:8] != 0, torch.ones(())),
                          r[..., None, None].expand(-1, -1, 3, 3).where(I0[:, 1:8] != 0, torch.zeros(())), rtol=1e-5)
    f = env.robot.joint_friction
    assert 0.01 <= f.min() and f.max() <= 0.1


def test_frequency_redraws_only_after_enough_steps_at_a_reset():
    env = reach(8, max_episode_length=1000)
    randomize(env, merge_params(dof("friction", range=[0.0, 0.1], operation="additive"), {"frequency": 3}), seed=0)
    dr, f = env.randomizer, env.robot.joint_friction
    start = f.clone()
    env.reset_idx(torch.arange(8))  # 0 steps since the first draw: kept
    assert torch.equal(f, start)
    a = torch.zeros(8, 7)
    env.step(a)
    env.step(a)
    env.reset_idx(torch.tensor([0, 1]))  # 2 < 3 steps: kept
    assert torch.equal(f, start)
    env.step(a)
    env.reset_idx(torch.tensor([0, 1]))  # 3 steps: re-drawn, for the resetting envs only
    assert not torch.equal(f[:2], start[:2]) and torch.equal(f[2:], start[2:])
    assert dr.randomize_buf.tolist() == [0, 0, 3, 3, 3, 3, 3, 3]
    mid = f.clone()
    env.step(a)
    env.reset_idx(torch.arange(8))  # envs 0, 1: 1 step since their draw; the others: 4
    assert torch.equal(f[:2], mid[:2]) and not torch.equal(f[2:], mid[2:])


def test_setup_only_is_drawn_once():
    env = reach(16)
    randomize(env, dof("damping", setup_only=True), seed=0)
    kd = env.robot.damping.clone()
    assert not torch.equal(kd, env._dr_nominal["damping"])
    env.randomizer.apply(force=True)
    assert torch.equal(env.robot.damping, kd)


def test_dof_properties_reach_the_right_tensors():
    env = reach(64)
    p = {"actor_params": {"franka": {"dof_properties": {
        "damping": spec(range=[2.0, 2.0]), "armature": spec(range=[3.0, 3.0]),
        "effort": spec(range=[0.5, 0.5]), "velocity": spec(range=[0.25, 0.25]),
        "friction": spec(range=[0.2, 0.2], operation="additive"),
        "joint_damping": spec(range=[0.3, 0.3], operation="additive")}}}}
    dr = DomainRandomizer(env, p, seed=0)
    nom = dr.nominal
    dr.apply()
    r = env.robot
    assert torch.allclose(r.damping, 2 * nom["damping"]) and torch.allclose(r.armature, 3 * nom["armature"])
    assert torch.allclose(r.effort_limit, 0.5 * nom["effort_limit"])
    assert torch.allclose(r.velocity_limit, 0.25 * nom["velocity_limit"])
    assert torch.allclose(r.joint_friction, torch.full_like(r.joint_friction, 0.2))
    assert torch.allclose(r.joint_damping, torch.full_like(r.joint_damping, 0.3))
    unrandomize(env)  # nothing attached: a no-op
    dr.detach(restore=True)
    assert torch.equal(r.damping, nom["damping"]) and torch.equal(r.joint_friction, nom["joint_friction"])


def test_gravity_is_global_and_restored():
    env = reach(4)
    randomize(env, {"sim_params": {"gravity": {"range": [0.0, 0.4], "operation": "additive",
                                               "distribution": "gaussian"}}}, seed=0)
    g = -env.robot._g_up[:, 0]
    assert not torch.equal(g, torch.tensor([0.0, 0.0, -9.81]))
    assert (g - torch.tensor([0.0, 0.0, -9.81])).abs().max() < 2.0
    unrandomize(env)
    assert torch.allclose(-env.robot._g_up[:, 0], torch.tensor([0.0, 0.0, -9.81]))
    assert env.randomizer is None and "pre_physics_step" not in env.__dict__


# ------------------------------------------------------------------ latency
def test_latency_buffer_delays_each_env_by_exactly_k_steps():
    N, A, T = 5, 2, 12
    lat = ActionLatency(N, A, max_delay=4)
    k = torch.tensor([0, 1, 2, 3, 4])
    lat.set_delay(None, k)
    acts = torch.randn(T, N, A, generator=_gen(1))
    out = torch.stack([lat(acts[t]) for t in range(T)])
    for i in range(N):
        ki = int(k[i])
        assert torch.equal(out[ki:, i], acts[:T - ki, i])
        assert torch.equal(out[:ki, i], torch.zeros(ki, A))  # nothing was sent yet: zeros
    lat.reset(torch.tensor([2]))
    o = lat(acts[0])
    assert torch.equal(o[2], torch.zeros(A)) and torch.equal(o[1], acts[-1, 1])
    first = ActionLatency(2, A, max_delay=3, fill="first")
    first.set_delay(None, torch.tensor([3, 3]))
    assert torch.equal(first(acts[0, :2]), acts[0, :2]) and torch.equal(first(acts[1, :2]), acts[0, :2])
    with pytest.raises(ValueError, match=r"0\.\.4"):
        lat.set_delay(None, 5)


def test_latency_in_a_task_delays_the_drive_command():
    env = reach(6, max_episode_length=1000)
    randomize(env, {"actuation_latency": {"range": [2, 2]}}, seed=0)
    acts = torch.rand(8, 6, 7, generator=_gen(2)) * 2 - 1
    vmax = env.robot.velocity_limit
    for t in range(8):
        env.step(acts[t])
        expected = acts[t - 2] * vmax if t >= 2 else torch.zeros(6, 7)
        assert torch.allclose(env.robot.vel_target, expected)
    # the policy's own action is what the reward's action penalty sees
    assert torch.equal(env.actions, acts[-1])


def test_latency_draws_cover_the_integer_range():
    env = reach(4000)
    dr = DomainRandomizer(env, {"actuation_latency": {"range": [1, 3]}}, seed=0)
    dr.apply()
    counts = torch.bincount(dr.latency.delay, minlength=4).tolist()
    assert counts[0] == 0 and all(abs(c - 4000 / 3) < 150 for c in counts[1:])


# -------------------------------------------------------------------- noise
def test_observation_and_action_noise_in_a_task():
    env = reach(4000, max_episode_length=1000)
    clean = reach(4000, max_episode_length=1000)
    p = merge_params(CHAPTER_OBSERVATION_NOISE, {"actions": {"range": [0.0, 0.05], "operation": "additive",
                                                             "distribution": "gaussian"}})
    randomize(env, p, seed=0)
    a = torch.zeros(4000, 7)
    env.step(a)
    clean.step(a)
    # actions: the drive sees the noisy command; the arms moved differently
    cmd = env.robot.vel_target / env.robot.velocity_limit
    assert abs(float(cmd.std()) - 0.05) < 2e-3
    assert torch.equal(env.actions, a)
    # observations: the clean ones plus the chapter's noise
    true = torch.cat((env.robot.q, env.robot.qd, env.targets - env.get_end_effector_position()), -1)
    d = env.obs_buf - true
    expected = torch.tensor([0.001] * 7 + [0.01] * 7 + [0.01] * 3)
    assert torch.allclose(d.std(0), expected, rtol=0.05)


def test_correlated_noise_is_held_per_env_until_a_redraw():
    env = reach(3000, max_episode_length=1000)
    p = {"observations": {"range": [0.0, 0.0], "operation": "additive", "distribution": "gaussian",
                          "range_correlated": [0.0, 0.02]}}
    randomize(env, p, seed=0)
    dr = env.randomizer
    x = torch.zeros(3000, 17)
    o1, o2 = dr.noise_obs(x), dr.noise_obs(x)
    assert torch.equal(o1, o2)  # no per-step part: the offset is held
    assert abs(float(o1.std()) - 0.02) < 1e-3
    dr.on_step()
    dr.on_reset(torch.tensor([0]))
    o3 = dr.noise_obs(x)
    assert not torch.equal(o3[0], o1[0]) and torch.equal(o3[1:], o1[1:])


def test_uniform_scaling_noise():
    env = reach(2000)
    dr = DomainRandomizer(env, {"actions": {"range": [0.9, 1.1], "operation": "scaling", "distribution": "uniform"}},
                          seed=0)
    a = torch.ones(2000, 7)
    out = dr.noise_actions(a)
    assert torch.equal(a, torch.ones(2000, 7)) and 0.9 <= out.min() and out.max() <= 1.1


# ------------------------------------------------- surface friction, sag
def _rollout(env, steps=40):
    g = _gen(9)
    obs = []
    for _ in range(steps):
        a = torch.rand(env.num_envs, 7, generator=g) * 2 - 1
        o, r, d, e = env.step(a)
        obs.append(torch.cat((o, r[:, None], d[:, None].float()), -1).clone())
    return torch.stack(obs)


def test_surface_friction_does_nothing_to_the_reach_task():
    surface = {"actor_params": {"franka": {"rigid_shape_properties": {
        "friction": {"range": [0.5, 1.0], "operation": "scaling", "distribution": "uniform"}}}}}
    plain, with_friction = reach(16, max_episode_length=15), reach(16, max_episode_length=15)
    randomize(with_friction, surface, seed=0)
    assert with_friction.surface_friction.std() > 0.05
    assert torch.equal(_rollout(plain), _rollout(with_friction))  # bit-identical: the reach task has no contacts
    a, b = reach(16, max_episode_length=15), reach(16, max_episode_length=15)
    randomize(a, CHAPTER_PHYSICS, seed=4)
    randomize(b, merge_params(CHAPTER_PHYSICS, {"actor_params": {"franka": {"rigid_shape_properties": {
        "friction": spec(range=[0.1, 0.2])}}}}), seed=4)
    assert not torch.equal(a.surface_friction, b.surface_friction)
    assert torch.equal(_rollout(a), _rollout(b))
    # ...whereas the masses, friction and damping of the same preset do change the rollout
    assert not torch.equal(_rollout(reach(16, max_episode_length=15)), _rollout(a))


def test_chapter_functions_on_the_task():
    env = reach(50)
    randomize(env, EXERCISE5_TEST_SET, seed=0)
    r = env.robot.link_mass[:, 1] / env._dr_nominal["link_mass"][:, 1]
    assert 0.7 <= r.min() and r.max() <= 1.3
    assert 0.025 <= env.robot.joint_friction.min() and env.robot.joint_friction.max() <= 0.075
    assert 0.175 <= env.robot.joint_damping.min() and env.robot.joint_damping.max() <= 0.525
    ids = torch.tensor([0, 1])
    # randomize_physics and add_observation_noise are chapter 5's exercise: no task of the student library has them
    assert not hasattr(env, "randomize_physics") and not hasattr(env, "add_observation_noise")
    env.randomize_visuals(ids)
    assert ((env.light_intensity[:2] >= 1000) & (env.light_intensity[:2] <= 3000)).all()
    assert (env.light_intensity[2:] == 2000).all()
    env.set_light_intensity(ids, torch.tensor([1.0, 2.0]))
    env.set_object_color(ids, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
    env.set_camera_offset(ids, torch.tensor([0.01, 0.0, 0.0]))
    assert env.light_intensity[:2].tolist() == [1.0, 2.0] and env.object_color[1].tolist() == [0, 1, 0]
    assert torch.allclose(env.camera_offset[:2], torch.tensor([[0.01, 0, 0]] * 2))
    with pytest.raises(ValueError, match=r"object_color: expected values of shape \(2, 3\)"):
        env.set_object_color(ids, torch.zeros(3, 3))


def test_sag_demo_heavier_arm_sags_and_overshoots():
    d = sag_demo(mass_scales=(1.0, 1.3, 0.7), duration=2.0)
    assert d.tcp_height.shape == (3, 240) and d.joint_error.shape == (3, 240, 7)
    nominal, heavy, light = (float(x) for x in d.static_error)
    assert nominal < 1e-6 and float(d.tcp_error[0].max()) < 1e-6  # the nominal model holds the pose exactly
    assert heavy > 0.05 and light > 0.05  # several cm with Isaac Lab's 80 / 4 gains
    assert float(d.static_drop[1]) < -0.05 and float(d.static_drop[2]) > 0.05  # heavier sags, lighter rises
    assert float(d.overshoot[1]) > 0.2 and float(d.peak_error[1]) > heavy  # and it overshoots on the way
    assert float(d.tcp_drop[1].min()) < float(d.static_drop[1])
    v = sag_demo(mass_scales=(1.0, 1.3), duration=1.0, drive="velocity", dtype=torch.float32)
    assert float(v.tcp_error[0].max()) < 1e-4 and float(v.tcp_drop[1, -1]) < -0.02  # velocity drive: it drifts
    assert math.isnan(float(v.static_error[1]))
    assert "1.30" in d.table()


# ------------------------------------------------------ a fixed randomized test set
def test_seed_redraws_a_randomized_task_as_if_built_with_that_seed():
    params = merge_params(EXERCISE5_TEST_SET, {"actuation_latency": {"range": [0, 3]}})
    env = reach(24, seed=5, randomize=True, randomization_params=params)
    g = torch.Generator().manual_seed(0)
    for _ in range(40):  # episodes end, environments are re-drawn, generators move on
        env.step(torch.rand(24, 7, generator=g) * 2 - 1)
    env.seed(9)
    fresh = reach(24, seed=9, randomize=True, randomization_params=params)
    for name in ("link_mass", "link_inertia", "joint_friction", "joint_damping"):
        assert torch.equal(getattr(env.robot, name), getattr(fresh.robot, name)), name
    assert torch.equal(env.randomizer.latency.delay, fresh.randomizer.latency.delay)
    assert not torch.equal(env.robot.link_mass, reach(24, seed=5, randomize=True,
                                                      randomization_params=params).robot.link_mass)


def test_randomized_evaluation_is_the_same_test_set_whatever_the_policy():
    """Two batches of episodes: each batch meets the same masses, whether the policy ends episodes early or not."""
    from course_lib.rl import evaluate

    def recorder(env, act):
        seen = []

        def policy(obs):
            if int(env.progress_buf.max()) == 0:  # first step of a batch (evaluate just reset every env)
                seen.append(env.robot.link_mass.clone())
            return act(obs)
        return policy, seen

    runs = []
    for act in (lambda o: torch.zeros(o.shape[0], 7), lambda o: torch.sign(o[:, :7] + 1.0) * 0.5):
        env = reach(8, seed=0, randomize=True, randomization_params=EXERCISE5_TEST_SET, max_episode_length=20)
        policy, seen = recorder(env, act)
        evaluate(env, policy, episodes=16, seed=0)
        runs.append(seen)
    assert len(runs[0]) == len(runs[1]) == 2
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    assert not torch.equal(runs[0][0], runs[0][1])  # batch 2 is another draw
