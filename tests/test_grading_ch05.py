"""Chapter 5's checks on the solution and on wrong versions of it, without a notebook: each wrong version fails
the checks of its behaviour (with a message that says what is wrong) and passes the others. The statistics
helpers are checked against closed forms."""
import math
import os

import pytest
import torch

from course_lib.grading import CheckFailed, check
from tests._helpers import notebook_check_calls, solution_namespace

torch.set_num_threads(1)  # a shared 2-core machine: two OpenMP threads can run many times slower

CELLS = ("samplers", "physics", "noise", "train_params")
CHECKS = ("sampler_ranges", "sampler_distributions", "sampler_seed", "physics_ranges", "physics_env_ids",
          "physics_seed", "observation_noise", "train_params")
_HIDDEN_CALLS = notebook_check_calls("ch05_domain_randomization", hidden=True)
HIDDEN = {  # the notebook's hidden cases, read from its test cells (solutions/src: their owner)
    name: _HIDDEN_CALLS.get(f"ch05.{name}", []) for name in CHECKS}


def namespace(edits=(), extra=""):
    return solution_namespace("ch05_domain_randomization", CELLS, edits, extra)


@pytest.fixture(scope="module")
def solution():
    return namespace()


# ------------------------------------------------------------------ statistics against closed forms
def test_ks_distance_closed_forms():
    from course_lib.grading.ch05 import exact_cdf, exact_moments, ks_distance

    n = 1000
    mid = (torch.arange(n, dtype=torch.float64) + 0.5) / n  # the quantiles' midpoints: D = 1 / (2n)
    assert ks_distance(mid, exact_cdf("uniform", (0, 1))) == pytest.approx(0.5 / n, abs=1e-12)
    assert ks_distance(0.7 + 0.6 * mid, exact_cdf("uniform", (0.7, 1.3))) == pytest.approx(0.5 / n, abs=1e-9)
    # all mass at one point x0 of U(0, 1): D = max(x0, 1 - x0)
    assert ks_distance(torch.full((50,), 0.3), exact_cdf("uniform", (0, 1))) == pytest.approx(0.7)
    # U(0.8, 1.2) against U(0.7, 1.3): the CDFs differ most at 0.8 and 1.2, by 1/6
    assert ks_distance(0.8 + 0.4 * mid, exact_cdf("uniform", (0.7, 1.3))) == pytest.approx(1 / 6, abs=2e-3)
    lu = torch.exp(math.log(0.01) + math.log(10) * mid)
    assert ks_distance(lu, exact_cdf("loguniform", (0.01, 0.1))) == pytest.approx(0.5 / n, abs=1e-9)
    gauss = 2.0 + 0.5 * math.sqrt(2) * torch.erfinv(2 * mid - 1)
    assert ks_distance(gauss, exact_cdf("gaussian", (2.0, 0.5))) == pytest.approx(0.5 / n, abs=1e-9)
    for dist, rng in (("uniform", (0.7, 1.3)), ("loguniform", (0.01, 0.1)), ("gaussian", (3.0, 0.5))):
        x = {"uniform": 0.7 + 0.6 * mid, "loguniform": lu, "gaussian": 3.0 + 0.5 * math.sqrt(2) * torch.erfinv(
            2 * mid - 1)}[dist]
        m, s = exact_moments(dist, rng)
        assert float(x.mean()) == pytest.approx(m, rel=1e-3) and float(x.std()) == pytest.approx(s, rel=2e-2)


def test_thresholds_have_a_wide_margin_on_the_fixed_seeds(solution):
    """A correct sampler's KS distance on the graded seeds is far below the thresholds (no flaky grades)."""
    from course_lib.grading.ch05 import KS_MAX, exact_cdf, ks_distance, sampler_cases

    for seed, hidden in ((0, False), (HIDDEN["sampler_distributions"][0]["seed"], True)):
        cases = sampler_cases(seed=seed, hidden=hidden)
        for i, (dist, rng) in enumerate(cases["specs"]):
            x = solution["sample"](dist, list(rng), cases["n"], torch.Generator().manual_seed(seed + i))
            assert ks_distance(x, exact_cdf(dist, rng)) < KS_MAX / 2.5, (dist, rng)
    # and the threshold itself: P(D > 0.03) for n = 20000 is below 2 exp(-2 n 0.03^2) = 4.6e-16
    assert 2 * math.exp(-2 * 20000 * KS_MAX ** 2) < 1e-15


# ------------------------------------------------------------------ the solution passes, visible and hidden
@pytest.mark.parametrize("name", CHECKS)
def test_solution_passes(solution, name, capsys):
    check(f"ch05.{name}", solution, seed=0) if name != "train_params" else check(f"ch05.{name}", solution)
    for params in HIDDEN[name]:
        check(f"ch05.{name}", solution, **params)
    assert "PASS" in capsys.readouterr().out


# ------------------------------------------------------------------ wrong versions
SAME_FOR_EVERY_ENV = '''
def randomize_physics(env, env_ids, generator):
    n = len(env_ids)
    scale = sample("uniform", MASS_SCALE, 1, generator).expand(n)
    env.set_link_mass(env_ids, NOMINAL_LINK_MASSES * scale[:, None], links=LINK_NAMES)
    env.set_joint_friction(env_ids, sample("uniform", JOINT_FRICTION, 1, generator).expand(n))
    env.set_joint_damping(env_ids, sample("uniform", JOINT_DAMPING, 1, generator).expand(n))
'''
ONE_DRAW_FOR_ALL_PARAMETERS = '''
def randomize_physics(env, env_ids, generator):
    u = sample("uniform", (0.0, 1.0), len(env_ids), generator)
    env.set_link_mass(env_ids, NOMINAL_LINK_MASSES * (0.7 + 0.6 * u)[:, None], links=LINK_NAMES)
    env.set_joint_friction(env_ids, 0.01 + 0.09 * u)
    env.set_joint_damping(env_ids, 0.1 + 0.5 * u)
'''
PER_LINK_SCALES = '''
def randomize_physics(env, env_ids, generator):
    n = len(env_ids)
    scale = sample("uniform", MASS_SCALE, n * 11, generator).reshape(n, 11)
    env.set_link_mass(env_ids, NOMINAL_LINK_MASSES * scale, links=LINK_NAMES)
    env.set_joint_friction(env_ids, sample("uniform", JOINT_FRICTION, n, generator))
    env.set_joint_damping(env_ids, sample("uniform", JOINT_DAMPING, n, generator))
'''
COMPOUNDS = '''
def randomize_physics(env, env_ids, generator):
    n = len(env_ids)
    scale = sample("uniform", MASS_SCALE, n, generator)
    env.set_link_mass(env_ids, env.robot.link_mass[env_ids] * scale[:, None], links=LINK_NAMES)
    env.set_joint_friction(env_ids, sample("uniform", JOINT_FRICTION, n, generator))
    env.set_joint_damping(env_ids, sample("uniform", JOINT_DAMPING, n, generator))
'''
ALL_ENVS = '''
def randomize_physics(env, env_ids, generator):
    n = env.num_envs
    ids = torch.arange(n)
    env.set_link_mass(ids, NOMINAL_LINK_MASSES * sample("uniform", MASS_SCALE, n, generator)[:, None], links=LINK_NAMES)
    env.set_joint_friction(ids, sample("uniform", JOINT_FRICTION, n, generator))
    env.set_joint_damping(ids, sample("uniform", JOINT_DAMPING, n, generator))
'''
# The library's randomization engine doing the exercises: each of these gives the right statistics (the test below
# shows it without the refusal), and earns nothing
BORROWS_SAMPLE_VALUES = '''
def sample(distribution, value_range, n, generator):
    from course_lib.envs.randomization import ParamSpec, sample_values
    if distribution not in ("uniform", "loguniform", "gaussian"):
        raise ValueError(distribution)
    spec = ParamSpec("x", tuple(float(v) for v in value_range), distribution=distribution)
    return sample_values(spec, (n,), generator)
'''
BORROWS_THE_RANDOMIZER = '''
def randomize_physics(env, env_ids, generator):
    from course_lib.envs.randomization import DomainRandomizer
    params = {"actor_params": {"franka": {
        "rigid_body_properties": {"mass": {"range": [0.7, 1.3], "operation": "scaling", "distribution": "uniform",
                                           "shared": True}},
        "dof_properties": {"friction": {"range": [0.01, 0.1], "operation": "additive", "distribution": "uniform",
                                        "shared": True},
                           "joint_damping": {"range": [0.1, 0.6], "operation": "additive", "distribution": "uniform",
                                             "shared": True}}}}}
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    helper = getattr(env, "_borrowed", None) or DomainRandomizer(env, params, seed)
    env._borrowed = helper
    helper.seed = seed
    helper.apply(env_ids, force=True, which="physics")
'''
BORROWS_BY_STRING = '''
def sample(distribution, value_range, n, generator):
    import importlib
    engine = importlib.import_module("course_lib.envs.randomization")
    spec = getattr(engine, "ParamSpec")("x", tuple(float(v) for v in value_range), distribution=distribution)
    return getattr(engine, "sample_values")(spec, (n,), generator)
'''
BORROWS_THE_NOISE = '''
def _noise(obs, generator):
    from course_lib.envs.randomization import CHAPTER_OBSERVATION_NOISE, DomainRandomizer
    env = course_lib.make("franka_reach", num_envs=len(obs), seed=0)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    return DomainRandomizer(env, CHAPTER_OBSERVATION_NOISE, seed).noise_obs(obs)

def add_observation_noise(obs, generator):
    return _noise(obs, generator)  # through a helper of one's own
'''

WRONG = {
    # name: (edits, extra code, the checks that must fail, a phrase of the message)
    "uniform_wrong_range": ([("return low + (high - low) * u", "return low + high * u")], "",
                            {"sampler_ranges", "sampler_distributions", "physics_ranges"}, "outside"),
    "loguniform_as_uniform": ([("return torch.exp(math.log(low) + (math.log(high) - math.log(low)) * u)",
                                "return low + (high - low) * u")], "",
                              {"sampler_ranges", "sampler_distributions"}, "Kolmogorov-Smirnov"),
    "gaussian_variance": ([("return low + high * torch.randn(", "return low + high ** 2 * torch.randn(")], "",
                          {"sampler_distributions"}, "[mean, std]"),
    "global_rng": ([("u = torch.rand(n, generator=generator, device=dev)", "u = torch.rand(n, device=dev)")], "",
                   {"sampler_seed", "physics_seed"}, "from `generator` only"),
    "listing_mass_range": ([("MASS_SCALE = (0.7, 1.3)", "MASS_SCALE = (0.8, 1.2)")], "", {"physics_ranges"},
                           "not uniform on [0.7, 1.3]"),
    "same_for_every_env": ([], SAME_FOR_EVERY_ENV, {"physics_ranges", "physics_env_ids"}, "same"),
    "one_draw_for_all_parameters": ([], ONE_DRAW_FOR_ALL_PARAMETERS, {"physics_env_ids"}, "correlated"),
    "per_link_scales": ([], PER_LINK_SCALES, {"physics_ranges"}, "one scale per environment"),
    "all_envs": ([], ALL_ENVS, {"physics_env_ids"}, "not in env_ids"),
    "compounds": ([], COMPOUNDS, {"physics_ranges"}, "must not compound"),
    # randomize_physics calls sample: a borrowed sampler costs both
    "borrows_sample_values": ([], BORROWS_SAMPLE_VALUES, {"sampler_ranges", "sampler_distributions", "sampler_seed",
                                                          "physics_ranges", "physics_env_ids", "physics_seed"},
                              "sample_values, course_lib's randomization engine"),
    "borrows_the_randomizer": ([], BORROWS_THE_RANDOMIZER, {"physics_ranges", "physics_env_ids", "physics_seed"},
                               "calls DomainRandomizer"),
    "borrows_by_string": ([], BORROWS_BY_STRING, {"sampler_ranges", "sampler_distributions", "sampler_seed",
                                                  "physics_ranges", "physics_env_ids", "physics_seed"},
                          "ParamSpec, sample_values"),
    "borrows_the_noise": ([], BORROWS_THE_NOISE, {"observation_noise"}, "DomainRandomizer, noise_obs"),
    "noise_magnitude": ([("[0.001] * 7 + [0.01] * 7 + [0.01] * 3", "[0.01] * 7 + [0.01] * 7 + [0.01] * 3")], "",
                        {"observation_noise"}, "the chapter's is 0.001"),
    "noise_same_for_every_env": ([("std * torch.randn(obs.shape,", "std * torch.randn(obs.shape[1:],")], "",
                                 {"observation_noise"}, "fresh for every environment"),
    # the wrong versions edit the solution's dict
    "params_typo": ([], 'TRAIN_RANDOMIZATION["actor_params"]["franka"]["rigid_body_properties"]["mass"]'
                        '["operation"] = "scale"', {"train_params"}, "not a valid randomization_params"),
    "params_no_damping": ([], 'del TRAIN_RANDOMIZATION["actor_params"]["franka"]["dof_properties"]["joint_damping"]',
                          {"train_params"}, "joint damping"),
}


def _run(ns, name):
    try:
        check(f"ch05.{name}", ns, seed=0) if name != "train_params" else check(f"ch05.{name}", ns)
        for params in HIDDEN[name]:
            check(f"ch05.{name}", ns, **params)
    except CheckFailed as e:
        return str(e)
    return None


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_each_wrong_version_fails_its_checks_only(wrong, capsys):
    edits, extra, failing, phrase = WRONG[wrong]
    ns = namespace(edits, extra)
    results = {name: _run(ns, name) for name in CHECKS}
    failed = {name for name, msg in results.items() if msg is not None}
    assert failed == failing, results
    assert any(phrase in results[name] for name in failing), results


def test_uniform_noise_with_the_right_std_is_not_gaussian():
    extra = '''
def add_observation_noise(obs, generator):
    std = torch.tensor([0.001] * 7 + [0.01] * 7 + [0.01] * 3)
    return obs + std * math.sqrt(3) * (2 * torch.rand(obs.shape, generator=generator) - 1)
'''
    assert "not gaussian" in _run(namespace(extra=extra), "observation_noise")


def test_raising_and_wrong_types_are_reported():
    ns = namespace(extra="def sample(distribution, value_range, n, generator):\n    return [0.5] * n\n")
    with pytest.raises(CheckFailed, match="not a torch tensor"):
        check("ch05.sampler_ranges", ns, seed=0)
    ns = namespace(extra="TRAIN_RANDOMIZATION = {'actor_params': {'franka': {'rigid_body_properties': "
                         "{'mass': {'range': torch.tensor([0.7, 1.3])}}}}}\n")
    with pytest.raises(CheckFailed, match="plain dict"):
        check("ch05.train_params", ns)


# ------------------------------------------------------------------ the policy check's judge
def test_policy_judge_messages():
    from course_lib.grading.ch05 import judge_policy

    ok = {"ok": True, "success_rate": 0.9, "episodes": 500, "ci95": [0.87, 0.92], "randomization": "exercise5"}
    assert "randomized test set" in judge_policy({"min_success": 0.8}, ok)
    with pytest.raises(CheckFailed, match="needs 95%"):
        judge_policy({"min_success": 0.95}, ok)
    with pytest.raises(CheckFailed, match="could not be evaluated"):
        judge_policy({}, {"ok": False, "error": "no checkpoint"})


# ------------------------------------------------------------------ the randomized test set, in a fresh process
@pytest.fixture(scope="module")
def reach_checkpoint(tmp_path_factory):
    import course_lib

    r = course_lib.train("franka_reach", num_envs=16, iterations=2, seed=0, device="cpu",
                         runs_dir=str(tmp_path_factory.mktemp("runs")), progress=False, out=open(os.devnull, "w"))
    return r.checkpoint


def test_evaluate_policy_on_the_named_randomized_test_set(reach_checkpoint):
    from course_lib.grading.evaluate_policy import evaluate_checkpoint, run_in_subprocess

    nominal = evaluate_checkpoint(reach_checkpoint, "franka_reach", episodes=16, seed=0)
    randomized = evaluate_checkpoint(reach_checkpoint, "franka_reach", episodes=16, seed=0, randomization="exercise5")
    assert nominal["ok"] and randomized["ok"] and randomized["randomization"] == "exercise5"
    assert nominal["mean_reward"] != randomized["mean_reward"]  # other physics, other trajectories
    again = evaluate_checkpoint(reach_checkpoint, "franka_reach", episodes=16, seed=0, randomization="exercise5")
    assert again["mean_reward"] == randomized["mean_reward"]  # the same test set every time
    fresh = run_in_subprocess(reach_checkpoint, "franka_reach", episodes=16, seed=0, randomization="exercise5")
    assert fresh["ok"] and fresh["randomization"] == "exercise5"
    assert fresh["mean_reward"] == pytest.approx(randomized["mean_reward"], rel=1e-6)
    bad = run_in_subprocess(reach_checkpoint, "franka_reach", episodes=4, seed=0, randomization="my_own_dict")
    assert not bad["ok"] and "unknown randomized test set" in bad["error"]


def test_the_borrowing_attacks_would_pass_without_the_refusal(monkeypatch):
    """The attacks above are real: with the engine's names not refused, the sampler and noise borrowed from the
    library pass their statistical checks (so the refusal, not a wrong statistic, is what stops them)."""
    from course_lib.grading import ch05

    monkeypatch.setattr(ch05, "ENGINE", ())
    for extra, names in ((BORROWS_SAMPLE_VALUES, ("sampler_ranges", "sampler_distributions", "sampler_seed")),
                         (BORROWS_THE_NOISE, ("observation_noise",))):
        ns = namespace(extra=extra)
        assert {name: _run(ns, name) for name in names} == {name: None for name in names}


def test_the_solutions_train_randomization_is_the_calibrated_one():
    """The solution writes its TRAIN_RANDOMIZATION out (copying the library's would be borrowing); chapters 5 and
    6's thresholds were calibrated with EXERCISE5_TRAIN_RANDOMIZATION, so the two must stay the same dict."""
    from course_lib.envs.randomization import EXERCISE5_TRAIN_RANDOMIZATION

    assert namespace()["TRAIN_RANDOMIZATION"] == EXERCISE5_TRAIN_RANDOMIZATION
