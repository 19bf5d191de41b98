"""Chapter 5 (Exercise 5): domain randomization, graded with statistical tests on fixed seeds.

The student writes

- ``sample(distribution, value_range, n, generator)``: ``n`` draws of one of
  Isaac Gym's distributions (``"uniform"`` [low, high], ``"loguniform"``
  [low, high], ``"gaussian"`` [mean, std]), a (n,) float tensor, from
  ``generator`` only;
- ``randomize_physics(env, env_ids, generator)``: for the environments
  ``env_ids`` only, every link's mass times one scale per environment, uniform
  in [0.7, 1.3]; joint friction uniform in [0.01, 0.1] N m; joint damping
  uniform in [0.1, 0.6] N m s/rad (the chapter's listing, masses widened to
  the exercise's +-30 %);
- ``add_observation_noise(obs, generator)``: the chapter's gaussian noise,
  std 0.001 rad on obs[:, 0:7], 0.01 rad/s on obs[:, 7:14], 0.01 m on
  obs[:, 14:17];
- ``TRAIN_RANDOMIZATION``: the ``randomization_params`` they train with.

================================  ===================================================
check                             behaviour
================================  ===================================================
``ch05.sampler_ranges``           (n,) float samples, inside [low, high], covering it
``ch05.sampler_distributions``    Kolmogorov-Smirnov distance to the exact distribution
``ch05.sampler_seed``             reproducible from the generator, independent draws,
                                  the global RNG unused
``ch05.physics_ranges``           one mass scale per env in [0.7, 1.3]; friction, damping
                                  in range, each uniform (KS)
``ch05.physics_env_ids``          only env_ids change; envs and parameters independent
``ch05.physics_seed``             reproducible from the generator, global RNG unused
``ch05.observation_noise``        per block: mean 0, the chapter's std, gaussian, fresh
                                  per environment and column
``ch05.train_params``             TRAIN_RANDOMIZATION is valid and randomizes masses,
                                  joint friction and damping
``ch05.policy``                   the randomized policy's success on the reference
                                  randomized test set (EXERCISE5_TEST_SET), evaluated in a
                                  fresh process
================================  ===================================================

Why these thresholds cannot be flaky: every check draws from generators with
fixed seeds, so a given function always gives the same statistics; the
thresholds sit many standard errors away from what a correct function gives
(a KS distance below 0.03 with 20 000 samples: a correct sampler exceeds it
with probability about 2 exp(-2 n 0.03^2) = 5e-16; the reference solution
gives 0.005-0.01 on these seeds, see tests/test_grading_ch05.py).
"""
from __future__ import annotations

import json
import math

import torch

from .common import generator as _gen
from .common import judge_success_rate, library_calls, policy_cases
from .common import returned_tensor as _t
from .core import PREAMBLES, Check, CheckFailed, register

PREAMBLES["ch05"] = """import math

import torch

import course_lib
from course_lib.envs.randomization import RandomizationParams"""

DISTRIBUTIONS = ("uniform", "loguniform", "gaussian")
MASS_SCALE = (0.7, 1.3)  # one scale per environment, every link
JOINT_FRICTION = (0.01, 0.1)  # N m
JOINT_DAMPING = (0.1, 0.6)  # N m s/rad
NOISE_BLOCKS = (("joint positions", 0, 7, 0.001), ("joint velocities", 7, 14, 0.01), ("target", 14, 17, 0.01))
KS_MAX = 0.03  # sampler checks, n = 20000
KS_MAX_PHYSICS = 0.05  # physics checks, n = 3000 environments
#: names of course_lib's randomization engine: a function of the student's that calls one of them has the library
#: do the exercise (its sampler, its randomizer, its noise), and earns nothing
ENGINE = ("sample_values", "DomainRandomizer", "ParamSpec", "noise_obs", "randomizer", "_chapter_randomizer")


# ------------------------------------------------------------------ statistics
def ks_distance(x: torch.Tensor, cdf) -> float:
    """Kolmogorov-Smirnov distance sup |F_n - F| of the samples ``x`` (flattened) from the exact CDF ``cdf``."""
    x = x.detach().double().flatten().sort().values
    n = x.numel()
    F = cdf(x).clamp(0.0, 1.0)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(torch.maximum(i / n - F, F - (i - 1) / n).max())


def exact_cdf(distribution: str, value_range):
    """The CDF of Isaac Gym's ``distribution`` with ``value_range`` (float64 in, float64 out)."""
    a, b = float(value_range[0]), float(value_range[1])
    if distribution == "uniform":
        return lambda x: ((x - a) / (b - a)).clamp(0.0, 1.0)
    if distribution == "loguniform":
        la, lb = math.log(a), math.log(b)
        return lambda x: ((torch.log(x.clamp_min(1e-300)) - la) / (lb - la)).clamp(0.0, 1.0)
    return lambda x: 0.5 * (1.0 + torch.erf((x - a) / (b * math.sqrt(2.0))))


def exact_moments(distribution: str, value_range) -> tuple[float, float]:
    """Mean and standard deviation of the distribution."""
    a, b = float(value_range[0]), float(value_range[1])
    if distribution == "uniform":
        return (a + b) / 2, (b - a) / math.sqrt(12)
    if distribution == "loguniform":
        L = math.log(b / a)
        m = (b - a) / L
        return m, math.sqrt((b * b - a * a) / (2 * L) - m * m)
    return a, b


def lag1_correlation(x: torch.Tensor) -> float:
    """Correlation of x[i] with x[i + 1] (0 for independent draws; NaN-free for a constant x)."""
    x = x.detach().double().flatten()
    a, b = x[:-1] - x[:-1].mean(), x[1:] - x[1:].mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else 1.0


def correlation(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.detach().double().flatten(), y.detach().double().flatten()
    x, y = x - x.mean(), y - y.mean()
    den = float(x.norm() * y.norm())
    return float((x * y).sum()) / den if den > 0 else 1.0


def _refuse_borrowed(out, fn_name):
    """CheckFailed where the student's function called the library's randomization engine (``out["engine"]``)."""
    if out.get("engine"):
        raise CheckFailed(f"{fn_name} calls {out['engine']}, course_lib's randomization engine: the library would be "
                          f"doing the exercise. Write it with torch (torch.rand / torch.randn with generator=...)")


def _global_rng_unused(fn):
    """Run ``fn`` twice with different global torch seeds; both results (the global state is restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        a = fn()
        torch.manual_seed(12345)
        b = fn()
    return a, b


# ------------------------------------------------------------------ the samplers
def sampler_cases(seed: int = 0, n: int = 20000, hidden: bool = False) -> dict:
    specs = [("uniform", (0.7, 1.3)), ("loguniform", (0.01, 0.1)), ("gaussian", (0.0, 0.01))]
    if hidden:
        specs = [("uniform", (-2.0, 5.0)), ("loguniform", (0.001, 10.0)), ("gaussian", (3.0, 0.5)),
                 ("uniform", (0.1, 0.6))]
    return {"specs": specs, "n": int(n), "seed": int(seed), "hidden": hidden}


def _sample(fn, dist, rng, n, g):
    return _t(fn(dist, list(rng), n, g), f"sample({dist!r}, {list(rng)}, {n}, generator)")


def produce_sampler(objs, cases):
    fn, n, s0 = objs["sample"], cases["n"], cases["seed"]
    out = {"engine": library_calls(fn, ENGINE)}
    for i, (dist, rng) in enumerate(cases["specs"]):
        out[f"x{i}"] = _sample(fn, dist, rng, n, _gen(s0 + i))
        out[f"again{i}"] = _sample(fn, dist, rng, n, _gen(s0 + i))
        out[f"other{i}"] = _sample(fn, dist, rng, n, _gen(s0 + 1000 + i))
        a, b = _global_rng_unused(lambda: _sample(fn, dist, rng, n, _gen(s0 + 2000 + i)))
        out[f"global_a{i}"], out[f"global_b{i}"] = a, b
    return out


def _name(dist, rng):
    return f"{dist} {list(rng)}"


def _check_samples(x, n, dist, rng):
    if tuple(x.shape) != (n,):
        raise CheckFailed(f"{_name(dist, rng)}: got shape {tuple(x.shape)}; expected (n,) = ({n},)")
    if not x.is_floating_point():
        raise CheckFailed(f"{_name(dist, rng)}: got dtype {x.dtype}; expected a float tensor")
    if not bool(torch.isfinite(x).all()):
        raise CheckFailed(f"{_name(dist, rng)}: {int((~torch.isfinite(x)).sum())} samples are NaN or inf")


def judge_sampler_ranges(cases, out):
    _refuse_borrowed(out, "sample")
    n = cases["n"]
    for i, (dist, rng) in enumerate(cases["specs"]):
        x = out[f"x{i}"]
        _check_samples(x, n, dist, rng)
        if dist == "gaussian":
            continue
        lo, hi = rng
        x = x.double()
        tol = 1e-6 * max(1.0, abs(lo), abs(hi))
        if float(x.min()) < lo - tol or float(x.max()) > hi + tol:
            raise CheckFailed(f"{_name(dist, rng)}: samples fall outside [{lo:g}, {hi:g}]: they range from "
                              f"{float(x.min()):.4g} to {float(x.max()):.4g}")
        # 20000 draws cover all but the outer 0.1 % of the range (in log space for loguniform)
        f = (lambda v: math.log(v)) if dist == "loguniform" else (lambda v: v)
        width = f(hi) - f(lo)
        if f(float(x.min())) > f(lo) + 0.01 * width or f(float(x.max())) < f(hi) - 0.01 * width:
            raise CheckFailed(f"{_name(dist, rng)}: the samples do not cover the range: they range from "
                              f"{float(x.min()):.4g} to {float(x.max()):.4g} (draw over the whole [low, high])")
    return f"{len(cases['specs'])} distributions, {n} samples each"


def judge_sampler_distributions(cases, out):
    _refuse_borrowed(out, "sample")
    n = cases["n"]
    worst = 0.0
    for i, (dist, rng) in enumerate(cases["specs"]):
        x = out[f"x{i}"]
        _check_samples(x, n, dist, rng)
        d = ks_distance(x, exact_cdf(dist, rng))
        worst = max(worst, d)
        if d > KS_MAX:
            m, s = exact_moments(dist, rng)
            hint = ""
            if dist == "gaussian":
                hint = " (a gaussian range is [mean, std])"
            elif dist == "loguniform":
                hint = " (loguniform: exp of a uniform draw between log(low) and log(high))"
            raise CheckFailed(f"{_name(dist, rng)}: the samples are not from this distribution: Kolmogorov-Smirnov "
                              f"distance {d:.3f} (a correct sampler gives below {KS_MAX} with overwhelming "
                              f"probability); your mean {float(x.double().mean()):.4g} and std "
                              f"{float(x.double().std()):.4g}, expected {m:.4g} and {s:.4g}{hint}")
    return f"largest KS distance {worst:.4f} (threshold {KS_MAX})"


def judge_sampler_seed(cases, out):
    _refuse_borrowed(out, "sample")
    n = cases["n"]
    for i, (dist, rng) in enumerate(cases["specs"]):
        x = out[f"x{i}"]
        _check_samples(x, n, dist, rng)
        if not torch.equal(x, out[f"again{i}"]):
            raise CheckFailed(f"{_name(dist, rng)}: two generators with the same seed gave different samples: draw "
                              f"from `generator` only (torch.rand(n, generator=generator, device=generator.device))")
        if not torch.equal(out[f"global_a{i}"], out[f"global_b{i}"]):
            raise CheckFailed(f"{_name(dist, rng)}: the samples depend on torch's global random state: pass "
                              f"generator=generator to every torch.rand / torch.randn")
        if torch.equal(x, out[f"other{i}"]):
            raise CheckFailed(f"{_name(dist, rng)}: generators with different seeds gave the same samples")
        if float(x.double().std()) == 0.0:
            raise CheckFailed(f"{_name(dist, rng)}: all {n} samples are equal: draw one per element, "
                              f"e.g. torch.rand(n, generator=generator)")
        r = lag1_correlation(x)
        if abs(r) > 0.05:
            raise CheckFailed(f"{_name(dist, rng)}: consecutive samples are correlated (r = {r:.3f}): each must be an "
                              f"independent draw")
    return f"{len(cases['specs'])} distributions"


# ------------------------------------------------------------------ randomize_physics
def physics_cases(seed: int = 0, n: int = 3000, k: int | None = None, hidden: bool = False) -> dict:
    g = _gen(seed)
    k = n // 2 if k is None else int(k)
    env_ids = torch.randperm(n, generator=g)[:k].sort().values
    return {"n": int(n), "env_ids": env_ids, "seed": int(seed), "hidden": hidden}


def _reference_env(n: int):
    from ..envs import FrankaReachTask

    return FrankaReachTask({"num_envs": int(n), "seed": 0})


def _physics_state(env) -> dict:
    r = env.robot
    return {"mass": _t(r.link_mass, "robot.link_mass"), "friction": _t(r.joint_friction, "robot.joint_friction"),
            "damping": _t(r.joint_damping, "robot.joint_damping")}


def produce_physics(objs, cases):
    """Each state: a fresh reference task of n envs, randomize_physics called *twice* (a second call must not
    compound the first) with one generator."""
    fn, n, s0 = objs["randomize_physics"], cases["n"], cases["seed"]
    ids_all = torch.arange(n)

    def twice(ids, seed):
        env = _reference_env(n)
        g = _gen(seed)
        fn(env, ids.clone(), g)
        fn(env, ids.clone(), g)
        return _physics_state(env)

    out = {"engine": library_calls(fn, ENGINE)}
    out.update({f"nominal_{k}": v for k, v in _physics_state(_reference_env(n)).items()})
    out.update({f"all_{k}": v for k, v in twice(ids_all, s0).items()})
    out.update({f"some_{k}": v for k, v in twice(cases["env_ids"], s0 + 1).items()})
    a, b = _global_rng_unused(lambda: twice(ids_all, s0))  # reproducible, with the global RNG moved in between
    out.update({f"again_{k}": v for k, v in a.items()})
    out.update({f"global_{k}": v for k, v in b.items()})
    out.update({f"other_{k}": v for k, v in twice(ids_all, s0 + 7).items()})
    return out


def _scales(out, prefix):
    """(N,) per-env mass scale from the links that have mass; raises if links of one env differ."""
    nominal, mass = out["nominal_mass"].double(), out[f"{prefix}_mass"].double()
    if mass.shape != nominal.shape:
        raise CheckFailed(f"robot.link_mass has shape {tuple(mass.shape)}; expected {tuple(nominal.shape)}")
    heavy = nominal[0] > 0
    if bool((mass[:, ~heavy] != 0).any()):
        raise CheckFailed("the massless frames (panda_link0, panda_link8, panda_hand_tcp) got a mass: scale the "
                          "nominal masses, do not set them")
    ratio = mass[:, heavy] / nominal[:, heavy]
    return ratio


def _shape_ok(t, n, name):
    if t.dim() != 2 or t.shape[0] != n:
        raise CheckFailed(f"{name} has shape {tuple(t.shape)}; expected (num_envs, 7)")


def _in_range(x, rng, what, tol=1e-5, hint=""):
    lo, hi = rng
    if float(x.min()) < lo - tol or float(x.max()) > hi + tol:
        raise CheckFailed(f"{what} outside [{lo:g}, {hi:g}]: from {float(x.min()):.4g} to {float(x.max()):.4g}{hint}")


def judge_physics_ranges(cases, out):
    _refuse_borrowed(out, "randomize_physics")
    n = cases["n"]
    ratio = _scales(out, "all")
    spread = (ratio.max(1).values - ratio.min(1).values).max()
    if float(spread) > 1e-4:
        raise CheckFailed(f"the links of one environment got different mass scales (up to {float(spread):.3f} "
                          f"apart): draw one scale per environment and multiply every link's nominal mass by it, "
                          f"as the chapter's single mass_scale")
    scale = ratio[:, 0]
    if bool((scale == 1).all()):
        raise CheckFailed("the link masses did not change (use env.set_link_mass(env_ids, masses, links=...))")
    _in_range(scale, MASS_SCALE, "after two calls, mass scales (link mass / nominal mass) are",
              hint=" (scale the nominal masses, not the current ones: a second call must not compound the first)")
    fr, dm = out["all_friction"].double(), out["all_damping"].double()
    _shape_ok(fr, n, "robot.joint_friction")
    _shape_ok(dm, n, "robot.joint_damping")
    _in_range(fr, JOINT_FRICTION, "joint friction (N m) is")
    _in_range(dm, JOINT_DAMPING, "joint damping (N m s/rad) is")
    res = []
    for what, x, rng in (("mass scale", scale, MASS_SCALE), ("joint friction", fr, JOINT_FRICTION),
                         ("joint damping", dm, JOINT_DAMPING)):
        if float(x.std()) < 1e-6:
            raise CheckFailed(f"every environment got the same {what} ({float(x.mean()):.4g}): draw one value per "
                              f"environment (n = len(env_ids) samples)")
        d = ks_distance(x, exact_cdf("uniform", rng))
        if d > KS_MAX_PHYSICS:
            m, s = exact_moments("uniform", rng)
            raise CheckFailed(f"the {what} is not uniform on [{rng[0]:g}, {rng[1]:g}] across environments: "
                              f"Kolmogorov-Smirnov distance {d:.3f} (threshold {KS_MAX_PHYSICS}); your mean "
                              f"{float(x.mean()):.4g} and std {float(x.std()):.4g}, expected {m:.4g} and {s:.4g}")
        res.append(f"{what} {d:.3f}")
    return f"{n} environments; KS distances: {', '.join(res)}"


def judge_physics_env_ids(cases, out):
    _refuse_borrowed(out, "randomize_physics")
    n, ids = cases["n"], cases["env_ids"]
    sel = torch.zeros(n, dtype=torch.bool)
    sel[ids] = True
    for name in ("mass", "friction", "damping"):
        got, nominal = out[f"some_{name}"], out[f"nominal_{name}"]
        if got.shape != nominal.shape:
            raise CheckFailed(f"robot {name} has shape {tuple(got.shape)}; expected {tuple(nominal.shape)}")
        changed = (got != nominal).reshape(n, -1).any(-1)
        if bool((changed & ~sel).any()):
            raise CheckFailed(f"randomize_physics changed the {name} of {int((changed & ~sel).sum())} environment(s) "
                              f"not in env_ids: index with env_ids only")
        if len(ids) and bool((~changed[sel]).all()):
            raise CheckFailed(f"randomize_physics left the {name} of the selected environments unchanged")
    k = len(ids)
    if k < 2:
        return "fewer than two environments selected"
    scale = _scales(out, "some")[sel][:, 0]
    fr = out["some_friction"].double()[sel][:, 0]
    dm = out["some_damping"].double()[sel][:, 0]
    for what, x in (("mass scale", scale), ("joint friction", fr), ("joint damping", dm)):
        if float(x.std()) < 1e-6:
            raise CheckFailed(f"all {k} selected environments got the same {what}: draw one value per environment "
                              f"(n = len(env_ids) samples)")
        r = lag1_correlation(x)
        if abs(r) > 0.15:
            raise CheckFailed(f"the {what} of neighbouring environments is correlated (r = {r:.2f}): draw each "
                              f"environment independently")
    for (a, x), (b, y) in (((("mass scale", scale)), ("joint friction", fr)), (("mass scale", scale),
                          ("joint damping", dm)), (("joint friction", fr), ("joint damping", dm))):
        r = correlation(x, y)
        if abs(r) > 0.15:
            raise CheckFailed(f"the {a} and the {b} of an environment are correlated (r = {r:.2f}): draw them "
                              f"independently (a new sample for each parameter)")
    return f"{k} of {n} environments randomized, the others untouched"


def judge_physics_seed(cases, out):
    _refuse_borrowed(out, "randomize_physics")
    for name in ("mass", "friction", "damping"):
        if not torch.equal(out[f"all_{name}"], out[f"again_{name}"]):
            raise CheckFailed(f"the same generator seed gave a different {name}: draw from `generator` only")
        if not torch.equal(out[f"again_{name}"], out[f"global_{name}"]):
            raise CheckFailed(f"the {name} depends on torch's global random state: pass generator=generator to "
                              f"every draw (or use your sample(...))")
    if torch.equal(out["all_mass"], out["other_mass"]):
        raise CheckFailed("generators with different seeds gave the same masses")
    return "same seed, same physics; global RNG unused"


# ------------------------------------------------------------------ observation noise
def noise_cases(seed: int = 0, n: int = 20000, hidden: bool = False) -> dict:
    g = _gen(seed)
    obs = (torch.rand(n, 17, generator=g) - 0.5) * 4.0
    return {"obs": obs, "seed": int(seed), "hidden": hidden}


def produce_noise(objs, cases):
    fn, s0 = objs["add_observation_noise"], cases["seed"]
    out = _t(fn(cases["obs"].clone(), _gen(s0)), "add_observation_noise(obs, generator)")
    again = _t(fn(cases["obs"].clone(), _gen(s0)), "add_observation_noise(obs, generator)")
    return {"noisy": out, "again": again, "engine": library_calls(fn, ENGINE)}


def judge_noise(cases, out):
    _refuse_borrowed(out, "add_observation_noise")
    obs, noisy = cases["obs"].double(), out["noisy"].double()
    n = obs.shape[0]
    if tuple(noisy.shape) != tuple(obs.shape):
        raise CheckFailed(f"add_observation_noise returned shape {tuple(noisy.shape)}; expected {tuple(obs.shape)} "
                          f"(return the noisy observations)")
    if not torch.equal(out["noisy"], out["again"]):
        raise CheckFailed("the same generator seed gave different noise: draw from `generator` only")
    noise = noisy - obs
    res = []
    for what, a, b, std in NOISE_BLOCKS:
        e = noise[:, a:b]
        s, m = float(e.std()), float(e.mean())
        if s == 0.0:
            raise CheckFailed(f"no noise on the {what} (obs[:, {a}:{b}]): add gaussian noise of std {std:g}")
        if abs(lag1_correlation(e[:, 0])) > 0.05 or float(e.std(0).min()) < 0.5 * std:
            raise CheckFailed(f"the noise on the {what} is not fresh for every environment: draw (num_envs, {b - a}) "
                              f"samples")
        if abs(s / std - 1.0) > 0.1:
            raise CheckFailed(f"the noise on the {what} (obs[:, {a}:{b}]) has std {s:.3g}; the chapter's is {std:g}")
        if abs(m) > 0.1 * std:
            raise CheckFailed(f"the noise on the {what} has mean {m:.3g}; it must be centred on 0 (std {std:g})")
        d = ks_distance(e / std, exact_cdf("gaussian", (0.0, 1.0)))
        if d > KS_MAX:
            raise CheckFailed(f"the noise on the {what} is not gaussian: Kolmogorov-Smirnov distance {d:.3f} from a "
                              f"normal distribution (threshold {KS_MAX}); use torch.randn")
        if b - a > 1 and abs(correlation(e[:, 0], e[:, 1])) > 0.05:
            raise CheckFailed(f"the noise on the {what} is the same in every column: draw one sample per element")
        res.append(f"{what} std {s:.4g}")
    return f"{n} observations: {', '.join(res)}"


# ------------------------------------------------------------------ the training randomization
def params_cases(hidden: bool = False) -> dict:
    return {"hidden": hidden}


def produce_params(objs, cases):
    params = objs["TRAIN_RANDOMIZATION"]
    try:
        text = json.dumps(params)
    except (TypeError, ValueError) as e:
        raise CheckFailed(f"TRAIN_RANDOMIZATION must be a plain dict of lists, numbers and strings ({e})")
    return {"params": text}


def judge_params(cases, out):
    from ..envs.randomization import RandomizationError, RandomizationParams

    try:
        P = RandomizationParams.from_dict(json.loads(out["params"]), name="TRAIN_RANDOMIZATION")
    except RandomizationError as e:
        raise CheckFailed(f"TRAIN_RANDOMIZATION is not a valid randomization_params dict: {e}")
    robot = next((a for name, a in P.actors.items() if name in ("franka", "panda", "robot")), None)
    missing = []
    if robot is None or "mass" not in robot.rigid_body:
        missing.append("link masses (rigid_body_properties.mass)")
    if robot is None or "friction" not in robot.dof:
        missing.append("joint friction (dof_properties.friction)")
    if robot is None or not ({"joint_damping", "damping"} & set(robot.dof)):
        missing.append("joint damping (dof_properties.joint_damping)")
    if missing:
        raise CheckFailed(f"TRAIN_RANDOMIZATION does not randomize {', '.join(missing)} of actor 'franka'")
    return "valid; masses, joint friction and damping randomized"


# ------------------------------------------------------------------ trained policy
def judge_policy(params, result):
    where = "the reference randomized test set (masses x0.7-1.3, joint friction and damping +-50%)"
    if result.get("randomization") is None:
        where = "the nominal reference task"
    return judge_success_rate(params, result, 0.8, did="reached the target", where=where, unit="steps",
                              advice="Train longer, or check TRAIN_RANDOMIZATION", say_where=True)


_s = {"defaults": {"seed": 0}, "needs": ("sample",)}
register(Check("ch05.sampler_ranges", "sample() gives (n,) float samples inside [low, high], covering it",
               cases=sampler_cases, produce=produce_sampler, judge=judge_sampler_ranges, **_s))
register(Check("ch05.sampler_distributions", "sample() draws from the named distribution (Kolmogorov-Smirnov test)",
               cases=sampler_cases, produce=produce_sampler, judge=judge_sampler_distributions, **_s))
register(Check("ch05.sampler_seed", "sample() is reproducible from its generator, draws independently, and leaves "
               "the global RNG alone", cases=sampler_cases, produce=produce_sampler, judge=judge_sampler_seed, **_s))
_p = {"defaults": {"seed": 0}, "needs": ("randomize_physics",)}
register(Check("ch05.physics_ranges", "randomize_physics draws one mass scale per env in [0.7, 1.3], joint friction in "
               "[0.01, 0.1] and damping in [0.1, 0.6], each uniform", cases=physics_cases, produce=produce_physics,
               judge=judge_physics_ranges, **_p))
register(Check("ch05.physics_env_ids", "randomize_physics changes env_ids only, each env and parameter drawn "
               "independently", cases=physics_cases, produce=produce_physics, judge=judge_physics_env_ids, **_p))
register(Check("ch05.physics_seed", "randomize_physics is reproducible from its generator and leaves the global RNG "
               "alone", cases=physics_cases, produce=produce_physics, judge=judge_physics_seed, **_p))
register(Check("ch05.observation_noise", "add_observation_noise adds the chapter's gaussian noise: std 0.001 on joint "
               "positions, 0.01 on velocities and on the target", cases=noise_cases, produce=produce_noise,
               judge=judge_noise, defaults={"seed": 0}, needs=("add_observation_noise",)))
register(Check("ch05.train_params", "your TRAIN_RANDOMIZATION is a valid randomization_params dict that "
               "randomizes masses, joint friction and damping", cases=params_cases, produce=produce_params, judge=judge_params,
               needs=("TRAIN_RANDOMIZATION",)))
register(Check("ch05.policy", "the policy trained with randomization reaches the target on the reference randomized "
               "test set", cases=policy_cases, judge=judge_policy, kind="policy",
               defaults={"checkpoint": "runs/reach_randomized_policy.pth", "task": "franka_reach", "episodes": 500,
                         "seed": 0, "randomization": "exercise5", "min_success": 0.8}))
