"""Chapter 3's checks on the solution and on wrong versions of it, without a notebook: each wrong version fails
the check of its behaviour (with a message that says what is wrong) and passes the others."""
import os
import re

import pytest

from course_lib.grading import CheckFailed, check
from tests._helpers import notebook_check_calls, solution_namespace


STATE_CHECKS = ("observations", "reward", "success", "reset_joints", "reset_targets", "reset_counters")
_HIDDEN_CALLS = notebook_check_calls("ch03_franka_reach", hidden=True)
HIDDEN = {  # the first hidden case of each check, read from the notebook's test cells (solutions/src: their owner)
    name: _HIDDEN_CALLS[f"ch03.{name}"][0] for name in STATE_CHECKS}


def namespace(edits=()):
    return solution_namespace("ch03_franka_reach", ("reach_task",), edits)


WRONG = {
    "obs_order": ([("torch.cat((joint_pos, joint_vel, target_rel)", "torch.cat((joint_vel, joint_pos, target_rel)")],
                  "observations", "wrong order"),
    "obs_sign": ([("target_rel = self.targets - self.get_end_effector_position()",
                   "target_rel = self.get_end_effector_position() - self.targets")], "observations", "wrong sign"),
    "no_bonus": ([("\n                           + self.success_bonus * success.float())", ")")], "success",
                 "success bonus is missing"),
    # the reward inside the ball has the action penalty too: both reward checks see it
    "no_action_penalty": ([("- self.action_penalty * torch.linalg.vector_norm(self.actions, dim=-1)", "")], ("reward", "success"),
                          "action penalty"),
    "targets_outside_box": ([("self.targets[env_ids] = self.low + u * (self.high - self.low)",
                              "self.targets[env_ids] = u * 0.6 + 0.3")], "reset_targets", "outside the chapter's box"),
    "listing_joints": ([("self.set_joint_positions(env_ids, q)",
                         "self.set_joint_positions(env_ids, torch.rand((n, 7), device=self.device) * 0.5)")],
                       "reset_joints", "outside the Panda's limits"),
    "same_pose_everywhere": ([("self.set_joint_positions(env_ids, q)",
                               "self.set_joint_positions(env_ids, self.home.expand(n, 7))")],
                             "reset_joints", "same joint positions"),
    "resets_everyone": ([("self.targets[env_ids] = self.low + u * (self.high - self.low)",
                          "self.targets[:] = self.low + torch.rand(self.num_envs, 3) * (self.high - self.low)")],
                        "reset_targets", "not in env_ids"),
    "forgot_progress": ([("        self.progress_buf[env_ids] = 0\n", "")], "reset_counters", "progress_buf"),
    # the library doing (part of) the exercise: refused for the checks of the method that borrows
    "borrows_the_reward_formula": ([(
        "        self.rew_buf[:] = (-distance - self.action_penalty * torch.linalg.vector_norm(self.actions, dim=-1)\n"
        "                           + self.success_bonus * success.float())",
        "        from course_lib.envs.rewards import reach_reward\n"
        "        self.rew_buf[:] = reach_reward(distance, self.actions)[0]")], ("reward", "success"),
        "calls reach_reward of course_lib's tasks"),
    "borrows_sample_targets": ([("self.targets[env_ids] = self.low + u * (self.high - self.low)",
                                 "self.targets[env_ids] = course_lib.envs.FrankaReachTask.sample_targets(self, n)")],
                               ("reset_joints", "reset_targets", "reset_counters"), "calls sample_targets"),
    # a method of the library's task assigned in the student's class: every check refuses the class
    "assigns_a_library_method": ([("    def compute_observations(self):",
                                   "    compute_observations = course_lib.envs.FrankaReachTask.compute_observations\n\n"
                                   "    def _mine(self):")], STATE_CHECKS, "taken from a reference task or a course_lib task"),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


@pytest.mark.parametrize("name", STATE_CHECKS)
def test_the_solution_passes_visible_and_hidden_cases(name, capsys):
    ns = namespace()
    check(f"ch03.{name}", ns, seed=0)
    check(f"ch03.{name}", ns, **HIDDEN[name])
    out = capsys.readouterr().out
    assert out.count("PASS") == 2, out


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_a_wrong_version_fails_its_check_only(wrong, capsys):
    edits, failing, says = WRONG[wrong]
    failing = (failing,) if isinstance(failing, str) else failing
    ns = namespace(edits)
    for name in STATE_CHECKS:
        if name in failing:
            with pytest.raises(CheckFailed, match=re.escape(says) if name == failing[0] else None):
                check(f"ch03.{name}", ns, seed=0)
            with pytest.raises(CheckFailed) as hidden:  # the hidden cases catch it too, without giving values away
                check(f"ch03.{name}", ns, **HIDDEN[name])
            assert "e.g. state" not in str(hidden.value)
        else:
            check(f"ch03.{name}", ns, seed=0)


def test_the_boundary_cases_are_only_in_the_hidden_set():
    """A bonus radius of 5.02 cm passes the visible cases and fails the hidden ones (0.2 mm outside)."""
    ns = namespace([("success = distance < self.success_radius", "success = distance < 0.0502")])
    check("ch03.success", ns, seed=0, n=300, edges=False)
    with pytest.raises(CheckFailed, match="just outside 5 cm"):
        check("ch03.success", ns, **HIDDEN["success"])


def test_a_helper_of_ones_own_with_a_library_name_is_not_borrowing():
    """A student's own ``sample_targets`` (a name the library's task also uses) is theirs: the checks look inside it,
    and pass."""
    ns = namespace([("    def reset_idx(self, env_ids):",
                     "    def sample_targets(self, n):\n"
                     "        u = torch.rand(n, 3, generator=self.rng, device=self.device)\n"
                     "        return self.low + u * (self.high - self.low)\n\n"
                     "    def reset_idx(self, env_ids):"),
                    ("        u = torch.rand(n, 3, generator=self.rng, device=self.device)\n"
                     "        self.targets[env_ids] = self.low + u * (self.high - self.low)",
                     "        self.targets[env_ids] = self.sample_targets(n)")])
    for name in ("reset_targets", "reset_counters"):
        check(f"ch03.{name}", ns, seed=0)


def test_the_reference_task_itself_is_refused():
    from course_lib.envs import FrankaReachTask

    with pytest.raises(CheckFailed, match="reference task"):
        check("ch03.observations", {"FrankaReachTask": FrankaReachTask}, seed=0)


def test_a_policy_check_reports_a_missing_checkpoint(tmp_path):
    with pytest.raises(CheckFailed, match="no checkpoint"):
        check("ch03.policy", {}, checkpoint=str(tmp_path / "nothing.pth"), episodes=10)


def test_judges_of_the_trained_policy():
    from course_lib.grading.ch03 import judge_policy, judge_policy_reward

    result = {"ok": True, "success_rate": 0.79, "episodes": 1000, "ci95": [0.76, 0.81], "mean_length": 120.0,
              "mean_step_reward": -0.05}
    with pytest.raises(CheckFailed, match="79.0% of 1000"):
        judge_policy({"min_success": 0.8}, result)
    assert "80.0%" in judge_policy({"min_success": 0.8}, dict(result, success_rate=0.8))
    assert "-0.050" in judge_policy_reward({"min_step_reward": -0.2}, result)
    with pytest.raises(CheckFailed, match="-0.250"):
        judge_policy_reward({"min_step_reward": -0.2}, dict(result, mean_step_reward=-0.25))


def test_a_policy_trained_on_the_librarys_task_earns_nothing(tmp_path):
    """Chapter 3's policy points are for training one's own FrankaReachTask: a policy of course_lib's franka_reach
    (by name or by class) fails both policy checks, whatever its success; one of a class of one's own is judged."""
    import course_lib
    from course_lib.envs import FrankaReachTask as Library
    from course_lib.grading import export_policy
    from course_lib.grading.ch03 import judge_policy, judge_policy_reward

    result = {"ok": True, "success_rate": 0.99, "episodes": 1000, "ci95": [0.98, 1.0], "mean_length": 40.0,
              "mean_step_reward": 0.3}
    for trained in ("course_lib.envs.franka_reach.FrankaReachTask", "course_answers.cartpole.CartpoleTask"):
        for judge in (judge_policy, judge_policy_reward):
            with pytest.raises(CheckFailed, match="a task of the course's library, not on your FrankaReachTask"):
                judge({}, dict(result, trained_class=trained, trained_on="franka_reach"))
    assert "99.0%" in judge_policy({}, dict(result, trained_class="__main__.FrankaReachTask"))
    # end to end: what course_lib.train records, read back by the evaluation the grader runs
    for task in ("franka_reach", Library):
        r = course_lib.train(task, num_envs=8, iterations=1, device="cpu", seed=0, runs_dir=str(tmp_path / "runs"),
                             progress=False, out=open(os.devnull, "w"))
        path = export_policy(r, str(tmp_path / "reach_policy.pth"))
        with pytest.raises(CheckFailed, match="a task of the course's library"):
            check("ch03.policy", {}, checkpoint=path, episodes=8, seed=0)


def test_one_policy_is_evaluated_once_per_process_for_both_policy_checks(tmp_path, monkeypatch):
    """ch03.policy and ch03.policy_reward judge the same evaluation: the grader runs it once, and again only when
    the file changes."""
    from course_lib.grading import evaluate_policy as ep

    calls = []

    def fake(checkpoint, task, episodes, seed, device, randomization):
        calls.append(checkpoint)
        return {"ok": True, "success_rate": 0.9, "episodes": episodes, "mean_step_reward": 0.1}

    monkeypatch.setattr(ep, "_evaluate_checkpoint", fake)
    monkeypatch.setattr(ep, "_DONE", {})
    ckpt = tmp_path / "reach_policy.pth"
    ckpt.write_bytes(b"policy 1")
    for _ in range(2):
        assert ep.evaluate_checkpoint(str(ckpt), "franka_reach", 1000, 0)["success_rate"] == 0.9
    assert len(calls) == 1
    hidden_seed = _HIDDEN_CALLS["ch03.policy"][0]["seed"]
    ep.evaluate_checkpoint(str(ckpt), "franka_reach", 1000, hidden_seed)  # another seed: another evaluation
    ckpt.write_bytes(b"policy 2")  # retrained: evaluated again
    ep.evaluate_checkpoint(str(ckpt), "franka_reach", 1000, 0)
    assert len(calls) == 3
