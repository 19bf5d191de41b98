"""Build the fixture submissions: the student release, filled in, right or wrong in one known way each.

    python tests/submissions/make_submissions.py           # (re)write tests/submissions/<assignment>/<student>.ipynb
    python tests/submissions/make_submissions.py --check   # exit 1 if a committed fixture is out of date

Each fixture is ``notebooks/<assignment>/<assignment>.ipynb`` (what students
get) with the solution cells filled from ``solutions/`` and then changed as
described in :data:`SUBMISSIONS`; tests/test_grading_course.py autogrades them
and asserts the scores in :data:`EXPECTED`.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

POINTS = {
    "ch01_setup": {"test_reach_reward": 2, "test_reset_done_state": 2, "test_reset_done_progress": 1,
                   "test_steps_per_second": 2},
    "ch04_reward_shaping": {"test_sparse_reward": 2, "test_dense_reward": 2, "test_improved_reward": 4,
                            "test_final_success": 1, "test_comparison": 2},
    "ch02_cartpole": {"test_observations": 2, "test_reward_alive": 2, "test_reward_fall": 1,
                      "test_reset_conditions": 2, "test_reset_state": 2, "test_reset_counters": 1, "test_policy": 5},
    "ch03_franka_reach": {"test_observations": 2, "test_reward": 2, "test_success": 2, "test_reset_joints": 2,
                          "test_reset_targets": 2, "test_reset_counters": 1, "test_policy": 5, "test_policy_reward": 2},
    "ch05_domain_randomization": {"test_sampler_ranges": 2, "test_sampler_distributions": 2, "test_sampler_seed": 1,
                                  "test_physics_ranges": 2, "test_physics_env_ids": 2, "test_physics_seed": 1,
                                  "test_observation_noise": 2, "test_train_params": 1, "test_policy": 5},
    "ch06_evaluate_deploy": {"test_wilson": 2, "test_export_match": 3, "test_export_standalone": 1,
                             "test_observation": 3, "test_deployed": 4, "test_deployed_delay": 2},
}

# ----------------------------------------------------------------------------------------------- ch03
#: the wrong fixtures skip the training and every cell that uses its policy (a student may delete them; it saves
#: CI five minutes a fixture): they lose the two policy tests besides the one their bug fails
CH03_SKIP_TRAINING = [("drop_cell_containing", text) for text in (
    "result = course_lib.train(", "axes = plot_training_curves(", "evaluation = evaluate_on_reference(",
    "policy = course_lib.load_policy(", "axes = plot_success_map(", "panel = target_panel(",
    "weights_panel = reward_weights_panel(")]

# ----------------------------------------------------------------------------------------------- ch05
#: the wrong fixtures delete both trainings and what uses them (up to 300 CPU iterations each would cost CI
#: minutes a fixture): they lose the policy test besides the ones their bug fails
CH05_SKIP_NOMINAL = [("drop_cell_containing", text) for text in (
    "nominal_run = course_lib.train(", "randomized_run = course_lib.train(", "results = {}", 'results["randomized training", test_set] = evaluate(',
    'rows = [("nominal training"', "scales = (1.0, 1.3, 2.0, 3.0)")]

# ----------------------------------------------------------------------------------------------- ch06
#: the wrong fixtures delete both trainings and every cell that uses them (up to 300 CPU iterations each would cost
#: CI minutes a fixture): with no exported policy they lose the two deployment tests besides the one their bug fails.
#: The export tests do not depend on the training (they export a checkpoint the grader writes).
CH06_SKIP_TRAINING = [("drop_cell_containing", text) for text in (
    "nominal_run = train_or_reuse(", "randomized_run = train_or_reuse(", "sim_results = {}",
    "for kind, marker, color in", "exports = {", "standalone = run_onnx_standalone(", "transfer = {}",
    "def compare(a, b):", "SHOW = 2", "latency = inference_latency(")]

# ----------------------------------------------------------------------------------------------- ch02
CH02_SIGN = ("self.rew_buf[:] = torch.where(failed, -self.fall_penalty, upright)",
             "self.rew_buf[:] = torch.where(failed, -self.fall_penalty, -upright)")
CH02_MONKEYPATCH = '''

# make every test pass, whatever the code above does
import course_lib.grading
import course_lib.grading.core
import course_lib.grading.evaluate_policy


def _always_pass(*args, **kwargs):
    print("PASS")


course_lib.grading.check = _always_pass
course_lib.grading.core.check = _always_pass
course_lib.evaluate = lambda *args, **kwargs: None
course_lib.grading.evaluate_policy.run_in_subprocess = lambda *args, **kwargs: {
    "ok": True, "success_rate": 1.0, "episodes": 500, "ci95": [1.0, 1.0], "mean_length": 500.0}
'''

# ----------------------------------------------------------------------------------------------- ch04
CH04_SKIP_TRAINING = [("drop_cell_containing", "train_and_save("),
                      ("drop_cell_containing", "IMPROVED_ITERATIONS")]
CH04_SKIP_IMPROVED_TRAINING = [("drop_cell_containing", "IMPROVED_ITERATIONS")]
CH04_CHAPTER_LIMITS = ("    near_limit = (q < q_lower + 0.15) | (q > q_upper - 0.15)\n",
                       "    near_limit = q.abs() > 0.9  # the chapter's test\n")

#: student id -> (what is wrong, list of edits). Edits:
#:   ("replace", grade_id, old, new): in that cell's source (old must occur)
#:   ("append", grade_id, text): to that cell's source
#:   ("insert_after", grade_id, source): a new student cell after that cell
#:   ("insert_after_containing", text, source): a new student cell after the first cell containing text
#:   ("drop_cell_containing", text): remove the (unlocked) cell whose source contains text
#:   ("set_source", grade_id, source): replace a cell's source (students can edit read-only cells outside Jupyter)
SUBMISSIONS = {
    "ch02_cartpole": {
        "solution": ("the solution, the real notebook (all cells)", []),
        "sign_error": ("+1 while upright written as -1: the reward test fails and the policy learns to fall",
                       [("replace", "cartpole_task", *CH02_SIGN)]),
        "forgot_reset": ("reset_idx forgets progress_buf (the chapter listing's bug); course_lib fixes it in "
                         "training, the test still catches it",
                         [("replace", "cartpole_task", "        self.progress_buf[env_ids] = 0\n", "")]),
        "obs_order": ("observations as (x, theta, x_dot, theta_dot): trains on its own task, fails on the reference",
                      [("replace", "cartpole_task", "torch.stack((q[:, 0], qd[:, 0], q[:, 1], qd[:, 1]), dim=-1)",
                        "torch.stack((q[:, 0], q[:, 1], qd[:, 0], qd[:, 1]), dim=-1)")]),
        "raises": ("compute_observations raises (IndexError), and a scratch cell raises (ValueError)",
                   [("replace", "cartpole_task", "torch.stack((q[:, 0], qd[:, 0], q[:, 1], qd[:, 1]), dim=-1)",
                     "torch.stack((q[:, 0], qd[:, 0], q[:, 2], qd[:, 1]), dim=-1)"),
                    ("insert_after", "cartpole_task", "env = CartpoleTask({'num_envs': 4, 'seed': 0})\n"
                                                      "env.step(torch.zeros(3, 1))  # wrong shape: ValueError")]),
        "never_ends": ("a scratch cell that never ends (cut off by the cell time-out)",
                       [("insert_after", "cartpole_task", "# wait until the pole falls\n"
                                                          "env = CartpoleTask({'num_envs': 4, 'seed': 0})\n"
                                                          "while not bool(env.reset_buf.any()):\n"
                                                          "    pass")]),
        "kernel_dies": ("a scratch cell kills the kernel (os._exit) before training: the notebook goes on in a fresh "
                        "kernel, the tests are graded outside it, the training cell fails",
                        [("insert_after", "cartpole_task", "import os\n\nos._exit(1)  # the kernel dies")]),
        "ignores_interrupt": ("after training, a cell that never ends and swallows the interrupt: the kernel is "
                              "restarted, the rest of the notebook still runs",
                              [("insert_after_containing", "export_policy(result",
                                "import time\n\nwhile True:\n    try:\n        time.sleep(1)\n"
                                "    except KeyboardInterrupt:\n        pass  # keep going")]),
        "stderr_flood": ("compute_reward prints to stderr at every call, and a cell writes 200000 lines to stderr",
                         [("replace", "cartpole_task", "        self.reset_buf[:] = failed.long()\n",
                           "        self.reset_buf[:] = failed.long()\n"
                           "        print('debug: rewards', self.rew_buf[:4], file=sys.stderr)\n"),
                          ("replace", "cartpole_task", "class CartpoleTask(VecEnvBase):",
                           "import sys\n\n\nclass CartpoleTask(VecEnvBase):"),
                          ("insert_after", "cartpole_task", "import sys\n\nfor i in range(200000):\n"
                                                            "    print(f'line {i} of a flood', file=sys.stderr)")]),
        "edited_test": ("the sign error, and the reward test cell edited to pass: the notebook is not graded "
                        "(every test 0, and the feedback and the summary say why)",
                        [("replace", "cartpole_task", *CH02_SIGN),
                         ("set_source", "test_reward_alive", "# Test: (edited by the student)\npass\n")]),
        "monkeypatch": ("the sign error, and the solution cell patches course_lib.grading.check, course_lib.evaluate "
                        "and the policy evaluation to report success",
                        [("replace", "cartpole_task", *CH02_SIGN), ("append", "cartpole_task", CH02_MONKEYPATCH)]),
    },
    "ch04_reward_shaping": {
        "solution": ("the solution, the real notebook (all cells, every training run)", []),
        "bonus_everywhere": ("sparse_reward gives +10 everywhere: the training cell's check stops it before "
                             "training, so the comparison has no runs either",
                             [("replace", "rewards", "    return 10.0 * (distance < 0.05).float()",
                               "    return torch.full_like(distance, 10.0)")]),
        "chapter_limits": ("improved_reward with the chapter's abs(q) > 0.9; no training (cells deleted)",
                           [("replace", "improved_reward", *CH04_CHAPTER_LIMITS), *CH04_SKIP_TRAINING]),
        "no_collision_penalty": ("improved_reward without the -2 collision penalty; no training (cells deleted)",
                                 [("replace", "improved_reward", "    reward = reward - 2.0 * collided.float()\n", ""),
                                  *CH04_SKIP_TRAINING]),
        "unweighted_success": ("final_success averages the per-iteration rates (not weighted by episodes); trains "
                               "sparse and dense, skips the optional improved runs",
                               [("set_source", "final_success",
                                 "def final_success(metrics, last=50):\n"
                                 "    rates = [r['success_rate'] for r in list(metrics)[-last:] "
                                 "if r['success_rate'] is not None]\n"
                                 "    return sum(rates) / len(rates) if rates else float('nan')\n"),
                                *CH04_SKIP_IMPROVED_TRAINING]),
    },
    "ch03_franka_reach": {
        "solution": ("the solution, the real notebook (all cells; on the CPU it trains until 95% of the last 32 iterations' "
                     "episodes were successes, at most 300 iterations)", []),
        "obs_order": ("joint velocities before joint positions in the observation; no training",
                      [("replace", "reach_task", "torch.cat((joint_pos, joint_vel, target_rel), dim=-1)",
                        "torch.cat((joint_vel, joint_pos, target_rel), dim=-1)"), *CH03_SKIP_TRAINING]),
        "no_bonus": ("the reward without the +10 success bonus; no training",
                     [("replace", "reach_task", "\n                           + self.success_bonus * success.float())",
                       ")"), *CH03_SKIP_TRAINING]),
        "targets_outside_box": ("targets drawn as torch.rand(...) * 0.6 + 0.3 on every axis (y in [0.3, 0.9]); "
                                "no training",
                                [("replace", "reach_task", "self.targets[env_ids] = self.low + u * (self.high - self.low)",
                                  "self.targets[env_ids] = u * 0.6 + 0.3"), *CH03_SKIP_TRAINING]),
        "listing_joints": ("the listing's torch.rand((n, 7)) * 0.5 as the reset pose (joint 4 outside its limits); "
                           "no training",
                           [("replace", "reach_task", "self.set_joint_positions(env_ids, q)  # also zeroes their",
                             "self.set_joint_positions(env_ids, torch.rand((n, 7), device=self.device) * 0.5)  #"),
                            *CH03_SKIP_TRAINING]),
    },
    "ch05_domain_randomization": {
        "solution": ("the solution, the real notebook (all cells)", []),
        "wrong_range": ("randomize_physics scales masses by the listing's 0.8..1.2, not the exercise's 0.7..1.3",
                        [("replace", "physics", "MASS_SCALE = (0.7, 1.3)", "MASS_SCALE = (0.8, 1.2)"),
                         *CH05_SKIP_NOMINAL]),
        "same_for_every_env": ("randomize_physics draws one mass scale and gives it to every environment",
                               [("replace", "physics", 'scale = sample("uniform", MASS_SCALE, n, generator)',
                                 'scale = sample("uniform", MASS_SCALE, 1, generator).expand(n)'),
                                *CH05_SKIP_NOMINAL]),
        "noise_magnitude": ("add_observation_noise uses 0.01 rad on the joint positions (the chapter's is 0.001)",
                            [("replace", "noise", "[0.001] * 7 + [0.01] * 7", "[0.01] * 7 + [0.01] * 7"),
                             *CH05_SKIP_NOMINAL]),
        "global_rng": ("sample() draws from torch's global random state, not from its generator",
                       [("replace", "samplers", "u = torch.rand(n, generator=generator, device=dev)",
                         "u = torch.rand(n, device=dev)"), *CH05_SKIP_NOMINAL]),
    },
    "ch06_evaluate_deploy": {
        "solution": ("the solution, the real notebook (both trainings, exports, every deployment)", []),
        "wilson_normal": ("wilson_interval is the normal approximation p +- z sqrt(p(1-p)/n); no training",
                          [("set_source", "wilson",
                            "def wilson_interval(successes, n, z=1.96):\n"
                            "    import math\n\n"
                            "    p = successes / n\n"
                            "    half = z * math.sqrt(p * (1 - p) / n)\n"
                            "    return (max(0.0, p - half), min(1.0, p + half))\n"), *CH06_SKIP_TRAINING]),
        "obs_sign_flipped": ("mujoco_observation with tcp - target instead of target - tcp; no training",
                             [("replace", "observation", "target - tcp), axis=-1)", "tcp - target), axis=-1)"),
                              *CH06_SKIP_TRAINING]),
        "export_no_normalization": ("export_policy drops the observation normalisation before exporting; no "
                                    "training",
                                    [("replace", "export", '    policy = course_lib.load_policy(checkpoint, '
                                      'task="franka_reach")\n', '    policy = course_lib.load_policy(checkpoint, '
                                      'task="franka_reach")\n    policy.normalize_input = False  # raw observations\n'),
                                     *CH06_SKIP_TRAINING]),
    },
    "ch01_setup": {
        "solution": ("the solution, the real notebook", []),
        "no_bonus": ("reach_reward without the +10 bonus, and steps_per_second that times the warm-up step",
                     [("replace", "reach_reward", "    return reward + 10.0 * (distance < 0.05).float()",
                       "    return reward"),
                      ("replace", "steps_per_second", "    env.step(actions)  # warm-up, outside the clock\n"
                                                      "    if cuda:\n"
                                                      "        torch.cuda.synchronize(env.device)\n"
                                                      "    start = clock()\n",
                       "    start = clock()\n    env.step(actions)  # warm-up, inside the clock (wrong)\n")]),
    },
}

#: the score of every test cell that each fixture must get (points lost against POINTS)
LOST = {
    "ch02_cartpole": {
        "solution": {},
        "sign_error": {"test_reward_alive", "test_policy"},
        "forgot_reset": {"test_reset_counters"},
        "obs_order": {"test_observations", "test_policy"},
        "raises": {"test_observations", "test_policy"},
        "never_ends": {},
        "kernel_dies": {"test_policy"},
        "ignores_interrupt": {},
        "stderr_flood": {},
        "edited_test": set(POINTS["ch02_cartpole"]),
        "monkeypatch": {"test_reward_alive", "test_policy"},
    },
    "ch04_reward_shaping": {
        "solution": {},
        "bonus_everywhere": {"test_sparse_reward", "test_comparison"},
        "chapter_limits": {"test_improved_reward", "test_comparison"},
        "no_collision_penalty": {"test_improved_reward", "test_comparison"},
        "unweighted_success": {"test_final_success", "test_comparison"},
    },
    "ch03_franka_reach": {
        "solution": {},
        "obs_order": {"test_observations", "test_policy", "test_policy_reward"},
        "no_bonus": {"test_success", "test_policy", "test_policy_reward"},
        "targets_outside_box": {"test_reset_targets", "test_policy", "test_policy_reward"},
        "listing_joints": {"test_reset_joints", "test_policy", "test_policy_reward"},
    },
    "ch05_domain_randomization": {
        "solution": {},
        "wrong_range": {"test_physics_ranges", "test_policy"},
        "same_for_every_env": {"test_physics_ranges", "test_physics_env_ids", "test_policy"},
        "noise_magnitude": {"test_observation_noise", "test_policy"},
        "global_rng": {"test_sampler_seed", "test_physics_seed", "test_policy"},
    },
    "ch06_evaluate_deploy": {
        "solution": {},
        "wilson_normal": {"test_wilson", "test_deployed", "test_deployed_delay"},
        "obs_sign_flipped": {"test_observation", "test_deployed", "test_deployed_delay"},
        "export_no_normalization": {"test_export_match", "test_export_standalone", "test_deployed",
                                    "test_deployed_delay"},
    },
    "ch01_setup": {
        "solution": {},
        "no_bonus": {"test_reach_reward", "test_steps_per_second"},
    },
}


def expected_cells(assignment: str, student: str) -> dict:
    return {g: (0 if g in LOST[assignment][student] else p) for g, p in POINTS[assignment].items()}


def _strip_markers(src: str) -> str:
    return "\n".join(ln for ln in src.split("\n") if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln)


def _gid(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def build(assignment: str, student: str):
    release = nbformat.read(os.path.join(REPO, "notebooks", assignment, f"{assignment}.ipynb"), as_version=4)
    source = nbformat.read(os.path.join(REPO, "solutions", assignment, f"{assignment}.ipynb"), as_version=4)
    solutions = {_gid(c): _strip_markers(c.source) for c in source.cells
                 if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    nb = copy.deepcopy(release)
    for c in nb.cells:
        if _gid(c) in solutions:
            c.source = solutions[_gid(c)]
    _, edits = SUBMISSIONS[assignment][student]
    for edit in edits:
        kind = edit[0]
        if kind == "drop_cell_containing":
            nb.cells = [c for c in nb.cells if edit[1] not in c.source]
            continue
        if kind == "insert_after_containing":
            idx = next(i for i, c in enumerate(nb.cells) if edit[1] in c.source)
            new = nbformat.v4.new_code_cell(edit[2])
            new.id = f"{student}-scratch-{idx}"
            nb.cells.insert(idx + 1, new)
            continue
        idx = next((i for i, c in enumerate(nb.cells) if _gid(c) == edit[1]), None)
        if idx is None:
            raise ValueError(f"{student}: no cell {edit[1]!r}")
        cell = nb.cells[idx]
        if kind == "replace":
            if edit[2] not in cell.source:
                raise ValueError(f"{student}: {edit[2]!r} is not in cell {edit[1]!r}")
            cell.source = cell.source.replace(edit[2], edit[3])
        elif kind == "append":
            cell.source = cell.source.rstrip("\n") + "\n" + edit[2]
        elif kind == "set_source":
            cell.source = edit[2]
        elif kind == "insert_after":
            new = nbformat.v4.new_code_cell(edit[2])
            new.id = f"{student}-scratch-{idx}"
            nb.cells.insert(idx + 1, new)
        else:
            raise ValueError(kind)
    if student != "solution" and assignment == "ch02_cartpole":
        # a student may delete the optional comparison cell (two more trainings): the fixtures do, to save time
        nb.cells = [c for c in nb.cells if 'for reward in ("exercise2", "isaacgym")' not in c.source]
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    return nb


def path_of(assignment: str, student: str) -> str:
    return os.path.join(HERE, assignment, f"{student}.ipynb")


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--check", action="store_true")
    a = p.parse_args(argv)
    stale = []
    for assignment, subs in SUBMISSIONS.items():
        for student in subs:
            text = json.dumps(build(assignment, student), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
            path = path_of(assignment, student)
            old = open(path).read() if os.path.exists(path) else None
            if old == text:
                continue
            if a.check:
                stale.append(path)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
                print(f"wrote {os.path.relpath(path, REPO)}")
    if stale:
        print("out of date (run python tests/submissions/make_submissions.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
