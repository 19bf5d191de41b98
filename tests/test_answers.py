"""The instructor's answers stay the instructor's (issue 12, point 5), and the course still works without them.

The reference implementations of graded exercises are the package ``course_answers`` (today chapter 2's
cart-pole and chapter 4's rewards), never installed for students (see course_lib/answers.py). These tests check that the values stored
for the visible checks are what the reference computes, and run a student's machine: ``course_lib`` alone on
``sys.path`` (a folder with a link to it and nothing else, as a wheel install or the grading sandbox gives), where
the visible checks still pass the solution and fail a wrong answer, cases without a stored value say why, and the
reference task is unknown, with a message that says what to use.
"""
import os
import subprocess
import sys
import textwrap

import torch

from course_lib.grading.reference import stored_path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_stored_values_are_what_the_reference_computes():
    from course_answers.store_expected import CHAPTERS, compute

    for a in CHAPTERS:
        stored = torch.load(stored_path(a), weights_only=True)
        fresh = compute(a)
        assert sorted(stored) == sorted(fresh), (f"{stored_path(a)} is stale: run `python -m "
                                                 f"course_answers.store_expected`")
        for key, value in fresh.items():
            assert _same(value, stored[key]), f"{key}: {stored_path(a)} is stale"


def _same(a, b) -> bool:
    """Equal values as :func:`course_lib.grading.reference.expected` returns them: tensors, numbers (NaN equals
    NaN), and tuples, lists and dicts of them."""
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    return type(a) is type(b) and a == b


def student_machine(tmp_path, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` where only course_lib (no course_answers, no repository) is importable."""
    site = tmp_path / "site"
    site.mkdir()
    os.symlink(os.path.join(ROOT, "course_lib"), site / "course_lib")
    boot = (f"import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.', {ROOT!r})]; "
            f"sys.path.insert(0, {str(site)!r})\n")
    return subprocess.run([sys.executable, "-I", "-c", boot + code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)


SOLUTION = f"""
import nbformat
from course_lib.grading.core import preamble
nb = nbformat.read({os.path.join(ROOT, 'solutions', 'ch02_cartpole', 'ch02_cartpole.ipynb')!r}, as_version=4)
ns = {{}}
exec(preamble("ch02"), ns)
exec(next(c.source for c in nb.cells if c.metadata.get("nbgrader", {{}}).get("grade_id") == "cartpole_task"), ns)
"""


def test_on_a_students_machine_the_visible_checks_still_grade(tmp_path):
    r = student_machine(tmp_path, SOLUTION + textwrap.dedent("""
        import course_lib, course_lib.answers
        from course_lib.grading import check
        from course_lib.grading.core import CheckFailed
        assert not course_lib.answers.available(), course_lib.answers.load()
        assert "course_answers" not in sys.modules
        calls = [("ch02.observations", {}), ("ch02.reward_alive", {}), ("ch02.reward_fall", {}),
                 ("ch02.reset_conditions", {}), ("ch02.reset_state", {}), ("ch02.reset_counters", {})]
        for name, params in calls:
            check(name, ns, seed=0, **params)
        # a wrong answer still fails, with the usual message
        wrong = dict(ns, _Solution=ns["CartpoleTask"])
        exec("class CartpoleTask(_Solution):\\n"
             "    def compute_observations(self):\\n"
             "        super().compute_observations()\\n"
             "        self.obs_buf[:] = self.obs_buf[:, [0, 2, 1, 3]]\\n"
             "        return self.obs_buf", wrong)
        try:
            check("ch02.observations", wrong, seed=0)
            print("WRONG PASSED")
        except CheckFailed as e:
            print("wrong:", e)
        # cases the visible cells do not use: no stored value, and the message says so
        try:
            check("ch02.observations", ns, seed=3)
            print("UNSTORED PASSED")
        except CheckFailed as e:
            print("unstored:", e)
        try:
            course_lib.make("cartpole")
        except ValueError as e:
            print("make:", e)
        """))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = r.stdout
    assert out.count("PASS ") == 6, out
    assert "wrong: observations are" in out and "wrong order" in out, out
    assert "unstored:" in out and "is not on this machine" in out and "checked when your notebook is graded" in out
    assert "make: there is no reference 'cartpole' task in the student library" in out
    assert "course_lib.train(CartpoleTask" in out


def test_on_a_students_machine_the_policy_check_uses_their_own_task_and_says_so(tmp_path):
    r = student_machine(tmp_path, SOLUTION + textwrap.dedent("""
        import course_lib
        from course_lib.grading import check
        from course_lib.grading.core import CheckFailed
        from course_lib.rl.config import default_config_path
        result = course_lib.train(ns["CartpoleTask"], config=default_config_path("cartpole"), num_envs=16, iterations=2, seed=0, device="cpu",
                                  runs_dir="runs", progress=False)
        from course_lib.grading import export_policy
        export_policy(result, "runs/cartpole_policy.pth")
        try:
            check("ch02.policy", ns, checkpoint="runs/cartpole_policy.pth", episodes=50, seed=0, min_success=0.9)
            print("UNTRAINED PASSED")
        except CheckFailed as e:
            print("policy:", e)
        """))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = r.stdout
    assert "policy: the trained policy balances" in out, out[-2000:]
    assert "episodes of your own CartpoleTask" in out and "this machine has no reference task" in out, out[-2000:]


CH04 = f"""
import nbformat
from course_lib.grading.core import preamble
nb = nbformat.read({os.path.join(ROOT, 'solutions', 'ch04_reward_shaping', 'ch04_reward_shaping.ipynb')!r}, as_version=4)
cells = {{c.metadata.get("nbgrader", {{}}).get("grade_id"): c.source for c in nb.cells}}
ns = {{}}
exec(preamble("ch04"), ns)
for g in ("rewards", "improved_reward", "final_success"):
    exec(cells[g], ns)
"""


def test_on_a_students_machine_chapter4_checks_grade_and_training_uses_their_rewards(tmp_path):
    r = student_machine(tmp_path, CH04 + textwrap.dedent("""
        import os, shutil, course_lib
        from course_lib.grading import check, export_policy
        from course_lib.grading.core import CheckFailed
        assert not course_lib.answers.available()
        for name in ("ch04.sparse_reward", "ch04.dense_reward", "ch04.improved_reward", "ch04.final_success"):
            check(name, ns, seed=0)
        wrong = dict(ns, sparse_reward=lambda distance: 10.0 * (distance < 0.06).float())
        for name, namespace, seed in (("ch04.sparse_reward", wrong, 0), ("ch04.dense_reward", ns, 5)):
            try:
                check(name, namespace, seed=seed)
                print("WRONG PASSED")
            except CheckFailed as e:
                print("failed:", e)
        try:
            course_lib.make("franka_reach", reward="sparse")
        except ValueError as e:
            print("make:", e)
        os.makedirs("runs")
        for name in ("sparse", "dense"):
            r = course_lib.train("franka_reach", num_envs=16, iterations=3, device="cpu", seed=0, name=f"ch04_{name}",
                                 reward=ns[f"{name}_reward"], progress=False, out=open(os.devnull, "w"))
            shutil.copyfile(f"{r.run_dir}/metrics.csv", f"runs/ch04_{name}_metrics.csv")
            export_policy(r, f"runs/ch04_{name}.pth")
        check("ch04.comparison", ns, last=2, min_iterations=3)
        """))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = r.stdout
    assert out.count("PASS ") == 5, out
    assert "failed: " in out and "rewards differ from the reference (within 5 cm" in out, out
    assert "is not on this machine" in out and "checked when your notebook is graded" in out, out
    assert "make: reward='sparse' is chapter 4's exercise" in out, out
    # the comparison checks what it can here and says what is left for grading
    assert "your two runs are a fair comparison" in out and "your own rewards" in out, out
    assert "compared with the reference computation on the same files when your notebook is graded" in out, out


def test_a_course_answers_folder_in_the_submission_is_not_taken_for_the_instructors(tmp_path):
    """The kernel's working directory is the submission's folder: a planted ``course_answers`` there must not
    become the reference (course_lib.answers looks beside course_lib only)."""
    planted = tmp_path / "course_answers"
    planted.mkdir()
    (planted / "__init__.py").write_text("TASKS = {'cartpole': None}\n")
    r = student_machine(tmp_path, textwrap.dedent(f"""
        sys.path.insert(0, {str(tmp_path)!r})
        import course_lib.answers, course_lib.envs
        print("answers", course_lib.answers.available(), sorted(course_lib.envs.tasks()))
        """))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "answers False ['franka_reach']" in r.stdout, r.stdout


def test_autograding_refuses_to_start_without_the_instructors_answers(tmp_path, monkeypatch):
    """A course_lib installed from a wheel has no course_answers beside it: grading there would fail every
    hidden case of every student; it stops at once and says how to install."""
    import pytest

    import course_lib.answers
    from course_lib.grading.instructor import Course, GradingError

    monkeypatch.setattr(course_lib.answers, "available", lambda: False)
    course = Course(root=str(tmp_path), release=str(tmp_path / "release"), repo=ROOT, log=lambda m: None)
    with pytest.raises(GradingError, match=r"course_answers.*pip install -e"):
        course.autograde("ch02_cartpole")


def test_the_library_wheel_never_packs_a_stale_build_folder(tmp_path):
    """pip builds a local project in its build/ folder and setuptools packs whatever build/lib holds: a module
    since moved to course_answers would reach students. The wheel is built clean, and checked file by file."""
    import shutil
    import zipfile

    from course_lib.grading.instructor import Course

    repo = tmp_path / "repo"  # a copy: the repository's own build/ folder is left to other tests
    repo.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if os.path.exists(os.path.join(ROOT, name)):
            shutil.copy(os.path.join(ROOT, name), repo / name)
    shutil.copytree(os.path.join(ROOT, "course_lib"), repo / "course_lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    stale = repo / "build" / "lib" / "course_lib" / "envs" / "old_answer.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("def sparse_reach_reward(distance):\n    return 10.0 * (distance < 0.05).float()\n")
    (tmp_path / "out").mkdir()
    wheel = Course(root=str(tmp_path / "course"), repo=str(repo), log=lambda m: None)._library_wheel(
        str(tmp_path / "out"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "course_lib/envs/franka_reach.py" in names
    assert "course_lib/envs/old_answer.py" not in names, names


CH06 = f"""
import nbformat
from course_lib.grading.core import preamble
nb = nbformat.read({os.path.join(ROOT, 'solutions', 'ch06_evaluate_deploy', 'ch06_evaluate_deploy.ipynb')!r}, as_version=4)
cells = {{c.metadata.get("nbgrader", {{}}).get("grade_id"): c.source for c in nb.cells}}
ns = {{}}
exec(preamble("ch06"), ns)
for g in ("wilson", "observation"):
    exec(cells[g], ns)
"""


def test_on_a_students_machine_chapter6_checks_grade_and_deploy_uses_their_observation(tmp_path):
    """Chapter 6's references (the Wilson interval, the control node's observation) are the instructor's: on a
    student's machine the visible checks grade from stored values, the library has neither formula to borrow,
    and the deployed checks deploy with the student's own mujoco_observation and say so."""
    r = student_machine(tmp_path, CH06 + textwrap.dedent("""
        import os, course_lib, course_lib.rl, course_lib.deploy
        from course_lib.grading import check
        from course_lib.grading.core import CheckFailed
        from course_lib.rl import Policy
        from course_lib.rl.export import export_onnx
        assert not course_lib.answers.available()
        print("library:", hasattr(course_lib.rl, "wilson_interval"), hasattr(course_lib.deploy, "reach_observation"))
        for name in ("ch06.wilson", "ch06.observation"):
            check(name, ns, seed=0) if name != "ch06.wilson" else check(name, ns)
        normal = dict(ns, wilson_interval=lambda s, n, z=1.96: (max(0.0, s / n - z * (s / n * (1 - s / n) / n) ** 0.5),
                                                              min(1.0, s / n + z * (s / n * (1 - s / n) / n) ** 0.5)))
        for name, namespace, params in (("ch06.wilson", normal, {}), ("ch06.observation", ns, {"seed": 5})):
            try:
                check(name, namespace, **params)
                print("WRONG PASSED")
            except CheckFailed as e:
                print("failed:", e)
        os.makedirs("runs/ch06_export")
        export_onnx(Policy(17, 7, [8], "elu", task="franka_reach"), "runs/ch06_export/policy.onnx")
        try:
            check("ch06.deployed", ns, episodes=20)
            print("UNTRAINED PASSED")
        except CheckFailed as e:
            print("deployed:", e)
        """))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = r.stdout
    assert "library: False False" in out, out
    assert out.count("PASS ") == 2, out
    assert "failed: " in out and "normal approximation" in out, out
    assert "is not on this machine" in out and "checked when your notebook is graded" in out, out
    assert "deployed: " in out and "with your own mujoco_observation: this machine has no reference observation" in out
