"""Chapter 6's checks on the solution and on wrong versions of it, without a notebook: each wrong version fails
exactly the checks of its behaviour, with the message a student would see. The deployed-policy check's judge, the
deploy mode of the fresh-process evaluation, run reuse and the side-by-side animation's rollout are checked too."""
import json
import os

import numpy as np
import pytest
import torch

from course_lib.grading import CheckFailed, check
from tests._helpers import notebook_check_calls, solution_namespace

torch.set_num_threads(1)  # a shared 2-core machine

pytest.importorskip("onnxruntime")
pytest.importorskip("mujoco")

CELLS = ("wilson", "export", "observation")
CHECKS = ("wilson", "export_match", "export_standalone", "observation")
_CALLS = notebook_check_calls("ch06_evaluate_deploy")
CALLS = {  # the notebook's test cells: (params, ...) per check, visible then hidden (solutions/src: their owner)
    name: _CALLS[f"ch06.{name}"] for name in CHECKS}


def namespace(edits=(), extra=""):
    return solution_namespace("ch06_evaluate_deploy", CELLS, edits, extra)


def failures(ns, name):
    """{params index: message} of the calls of check ``name`` that fail."""
    out = {}
    for i, params in enumerate(CALLS[name]):
        try:
            check(f"ch06.{name}", ns, **params)
        except CheckFailed as e:
            out[i] = str(e)
    return out


def test_solution_passes_every_check(capsys):
    ns = namespace()
    for name in CHECKS:
        assert failures(ns, name) == {}, name
    out = capsys.readouterr().out
    assert out.count("PASS") == sum(len(v) for v in CALLS.values())
    assert "[hidden cases]" in out and "TorchScript 0.0e+00" in out


NORMAL = '''
def wilson_interval(successes, n, z=1.96):
    import math
    p = successes / n
    h = z * math.sqrt(p * (1 - p) / n)
    return (max(0.0, p - h), min(1.0, p + h))
'''
BORROWS_THE_LIBRARY = '''
def wilson_interval(successes, n, z=1.96):
    from course_lib.rl import success_ci  # the library's interval (SciPy's), at the confidence z stands for
    import math
    return success_ci(successes, n, confidence=math.erf(z / math.sqrt(2)))
'''
BORROWS_SCIPY = '''
def wilson_interval(successes, n, z=1.96):
    import math
    from scipy.stats import binomtest
    ci = binomtest(successes, n).proportion_ci(confidence_level=math.erf(z / math.sqrt(2)), method="wilson")
    return (ci.low, ci.high)
'''
WRONG_NAMES = '''
def export_policy(checkpoint, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    policy = course_lib.load_policy(checkpoint, task="franka_reach")
    return {"onnx": export_onnx(policy, os.path.join(out_dir, "reach.onnx")),
            "torchscript": export_torchscript(policy, os.path.join(out_dir, "reach.pt"))}
'''
RETURNS_LIST = '''
_right = export_policy
def export_policy(checkpoint, out_dir):
    paths = _right(checkpoint, out_dir)
    return [paths["onnx"], paths["torchscript"]]
'''
UNTRAINED = '''
def export_policy(checkpoint, out_dir):
    from course_lib.rl import Policy
    os.makedirs(out_dir, exist_ok=True)
    policy = Policy(17, 7, [64, 64], "elu", task="franka_reach")  # a fresh network, not the checkpoint's
    return {"onnx": export_onnx(policy, os.path.join(out_dir, "policy.onnx")),
            "torchscript": export_torchscript(policy, os.path.join(out_dir, "policy.pt"))}
'''

#: name -> (edits, extra code, {check: set of failing call indices}, words in the first failure's message)
WRONG = {
    "wilson_normal": ([], NORMAL, {"wilson": {0, 1}}, "normal approximation"),
    "wilson_default_z": ([("def wilson_interval(successes, n, z=1.96):", "def wilson_interval(successes, n, z=1.0):")],
                         "", {"wilson": {0, 1}}, "make z=1.96 the default"),
    # the right numbers from a library (the course's or SciPy's): the exercise is the formula
    "wilson_borrows_the_library": ([], BORROWS_THE_LIBRARY, {"wilson": {0, 1}}, "a library's interval, not yours"),
    "wilson_borrows_scipy": ([], BORROWS_SCIPY, {"wilson": {0, 1}}, "calls binomtest, proportion_ci"),
    "wilson_half_width": ([(" + z * z / (4.0 * n * n)", "")], "", {"wilson": {0, 1}}, "the Wilson interval is"),
    "export_no_normalization": ([('    policy = course_lib.load_policy(checkpoint, task="franka_reach")\n',
                                  '    policy = course_lib.load_policy(checkpoint, task="franka_reach")\n'
                                  '    policy.normalize_input = False\n')], "",
                                {"export_match": {0, 1}, "export_standalone": {0}}, "WITHOUT the observation normalisation"),
    "export_untrained": ([], UNTRAINED, {"export_match": {0, 1}, "export_standalone": {0}}, "differ from the checkpoint"),
    "export_wrong_names": ([], WRONG_NAMES, {"export_match": {0, 1}}, "out_dir/policy.onnx"),
    "export_returns_list": ([], RETURNS_LIST, {"export_match": {0, 1}, "export_standalone": {0}},
                            "dict with the keys 'onnx' and 'torchscript'"),
    "obs_order": ([("np.concatenate((q, qd, target - tcp)", "np.concatenate((qd, q, target - tcp)")], "",
                  {"observation": {0, 1}}, "q and qd are swapped"),
    "obs_sign": ([("target - tcp), axis=-1)", "tcp - target), axis=-1)")], "", {"observation": {0, 1}},
                 "tcp - target"),
    "obs_float64": ([(".astype(np.float32)", "")], "", {"observation": {0, 1}}, "float32"),
    "obs_target_only": ([("target - tcp), axis=-1)", "target), axis=-1)")], "", {"observation": {0, 1}},
                        "the target itself"),
    # a squeeze passes the visible batches (N = 64, 5) and fails the hidden one robot
    "obs_squeeze": ([(".astype(np.float32)", ".astype(np.float32).squeeze()")], "", {"observation": {1}},
                    "keep the batch dimension"),
}


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_each_wrong_version_fails_its_checks_only(wrong):
    edits, extra, want, words = WRONG[wrong]
    ns = namespace(edits, extra)
    got = {name: set(failures(ns, name)) for name in CHECKS}
    assert {k: v for k, v in got.items() if v} == want
    first_check = sorted(want)[0]
    msg = failures(ns, first_check)[min(want[first_check])]
    assert words in msg, msg
    assert "Traceback" not in msg


def test_hidden_failures_are_marked():
    ns = namespace([(".astype(np.float32)", ".astype(np.float32).squeeze()")])
    msg = failures(ns, "observation")[1]
    assert msg.startswith("[hidden cases]") and "for 1 robot(s)" in msg


# ------------------------------------------------------------------ the deployed policy's judge
def test_deployed_judge():
    from course_lib.grading.ch06 import THRESHOLD, judge_deployed

    ok = {"ok": True, "success_rate": 0.95, "episodes": 1000, "ci95": [0.936, 0.962], "gap": "nominal",
          "mean_length": 14.0}
    assert "95.0% of 1000 episodes on the Panda in MuJoCo" in judge_deployed({"min_success": THRESHOLD}, ok)
    with pytest.raises(CheckFailed, match=r"reached the target in 50\.0% of 1000 episodes on the Panda in MuJoCo "
                                          r"with commands 3 control steps"):
        judge_deployed({"min_success": 0.8}, dict(ok, success_rate=0.5, gap="delay3"))
    with pytest.raises(CheckFailed, match="run the export cell"):
        judge_deployed({}, {"ok": False, "error": "no exported policy at x.onnx: run the export cell"})


@pytest.fixture(scope="module")
def reacher_onnx(tmp_path_factory):
    """A linear reacher (no training: tests/test_deploy.py's controller) exported to ONNX."""
    from course_lib.rl.export import export_onnx
    from tests.test_deploy import _linear_reacher

    return export_onnx(_linear_reacher(gain=4.0), tmp_path_factory.mktemp("ch06") / "policy.onnx")


def test_deploy_mode_in_a_fresh_process_equals_in_process(reacher_onnx, tmp_path):
    """evaluate_policy's deploy mode: the same result in this process and in python -I, under each named
    condition; the delay condition really delays; a missing file, a bad condition and a non-policy are errors."""
    from course_lib.grading import evaluate_policy as ep

    here = ep.deploy_exported(str(reacher_onnx), episodes=12, seed=3, gap="nominal")
    there = ep.run_in_subprocess(str(reacher_onnx), "franka_reach", 12, 3, mode="deploy", gap="nominal")
    assert here["ok"] and there["ok"], (here, there)
    assert here["success_rate"] == there["success_rate"] and here["mean_length"] == there["mean_length"]
    late = ep.policy_result({"checkpoint": str(reacher_onnx), "mode": "deploy", "gap": "delay3", "episodes": 12,
                             "seed": 3}, fresh=False)
    assert late["ok"] and late["gap_options"]["action_delay"] == 3 and late["mean_length"] != here["mean_length"]
    assert "run the export cell" in ep.deploy_exported(str(tmp_path / "none.onnx"))["error"]
    assert "unknown MuJoCo condition" in ep.deploy_exported(str(reacher_onnx), gap="mars")["error"]
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    assert "not a readable exported onnx policy" in ep.deploy_exported(str(tmp_path / "junk.onnx"))["error"]
    assert json.dumps(here)


# ------------------------------------------------------------------ run reuse, side-by-side rollout
def test_train_or_reuse(tmp_path):
    """A finished run trained as asked is reused; other iterations or another randomization train anew."""
    from course_lib.envs.randomization import EXERCISE5_TRAIN_RANDOMIZATION as R
    from course_lib.rl.reuse import finished_run, train_or_reuse

    kw = dict(num_envs=16, iterations=2, device="cpu", seed=0, runs_dir=str(tmp_path), progress=False,
              out=open(os.devnull, "w"))
    a = train_or_reuse("franka_reach", "r", **kw)
    b = train_or_reuse("franka_reach", "r", **kw)
    assert not a.reused and b.reused and b.checkpoint == a.checkpoint
    c = train_or_reuse("franka_reach", "r", randomize=True, randomization_params=R, **kw)
    assert not c.reused and c.checkpoint != a.checkpoint
    assert finished_run("r", task="franka_reach", iterations=2, num_envs=16, runs_dir=str(tmp_path),
                        randomization_params=R) == c.checkpoint
    assert finished_run("r", task="franka_reach", iterations=3, num_envs=16, runs_dir=str(tmp_path)) is None
    assert finished_run("r", task="franka_reach", iterations=2, num_envs=32, runs_dir=str(tmp_path)) is None



def test_train_or_reuse_a_run_the_stop_rule_ended(tmp_path):
    """A run that stop_at_success ended early is finished: reused when asked with the same rule, trained anew
    without it or with another; an interrupted-looking one (fewer iterations, no rule) is not reused."""
    from course_lib.rl.reuse import finished_run, train_or_reuse

    kw = dict(num_envs=64, iterations=80, device="cpu", seed=0, runs_dir=str(tmp_path), progress=False,
              out=open(os.devnull, "w"))
    a = train_or_reuse("cartpole", "s", stop_at_success=0.9, max_episode_length=48, **kw)
    assert not a.reused and a.iterations < 80
    b = train_or_reuse("cartpole", "s", stop_at_success=0.9, max_episode_length=48, **kw)
    assert b.reused and b.checkpoint == a.checkpoint and b.iterations == a.iterations
    ask = dict(task="cartpole", iterations=80, num_envs=64, runs_dir=str(tmp_path))
    assert finished_run("s", **ask) is None  # without the rule: 80 iterations were asked for
    assert finished_run("s", stop_at_success=0.95, **ask) is None
    assert finished_run("s", stop_at_success=0.9, **{**ask, "iterations": a.iterations - 1}) is None


def test_rollout_from_paths_draws_the_joints():
    """rollout_from_paths: the course's kinematics of the given joints (TCP = the task's), paths held at their
    last frame, their ends marked, captions labelled."""
    import course_lib
    from course_lib.viz import rollout_from_paths
    from course_lib.viz.animate import _caption

    env = course_lib.make("franka_reach", num_envs=2, seed=0)
    q = env.get_joint_positions().double().numpy()
    ro = rollout_from_paths([np.stack([q[0]] * 5), np.stack([q[1]] * 3)], env.targets.numpy(), 1 / 60,
                            labels=["MuJoCo", "course sim"], successes=[True, False])
    assert ro.q.shape == (5, 2, 7) and ro.link_pos.shape[:2] == (5, 2)
    np.testing.assert_allclose(ro.tcp[0], env.get_end_effector_position().numpy(), atol=1e-5)
    np.testing.assert_array_equal(ro.q[4, 1], q[1])  # held
    assert ro.dones[3, 0] and ro.dones[1, 1] and ro.successes[3, 0] and not ro.successes.any(0)[1]
    assert _caption(ro, 4, 0).startswith("MuJoCo  0.07 s  successes 1")
    with pytest.raises(ValueError, match=r"\(T \+ 1, 7\)"):
        rollout_from_paths([np.zeros((3, 6))], np.zeros((1, 3)), 1 / 60)


def test_one_deployment_per_file_and_way_per_process(tmp_path, monkeypatch):
    """A file deployed the same way twice in one process (the visible test in the kernel, then the grader) is
    deployed once; another condition, seed or a rewritten file is deployed again."""
    from course_lib.grading import evaluate_policy as ep

    calls = []

    def fake(path, episodes, seed, gap):
        calls.append((gap, seed))
        return {"ok": True, "success_rate": 0.9, "episodes": episodes}

    monkeypatch.setattr(ep, "_deploy_exported", fake)
    monkeypatch.setattr(ep, "_DONE", {})
    f = tmp_path / "policy.onnx"
    f.write_bytes(b"policy 1")
    for _ in range(2):
        assert ep.deploy_exported(str(f), 1000, 0, "nominal")["success_rate"] == 0.9
    ep.deploy_exported(str(f), 1000, 0, "delay3")
    hidden_seed = _CALLS["ch06.deployed"][1]["seed"]
    ep.deploy_exported(str(f), 1000, hidden_seed, "nominal")
    f.write_bytes(b"policy 2")
    ep.deploy_exported(str(f), 1000, 0, "nominal")
    assert calls == [("nominal", 0), ("delay3", 0), ("nominal", hidden_seed), ("nominal", 0)]
