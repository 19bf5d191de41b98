"""The chapter notebooks with nbgrader: the release is what nbgrader generates, it leaks nothing, every test
fails on it (`nbgrader validate --invert`), and every solution notebook runs top to bottom on the CPU and
passes `nbgrader validate` (with every cell checked, not only the tests).

Chapters 3-6 train for minutes: their solutions run top to bottom once per suite, in
tests/test_grading_course.py's autograde of each chapter, where the autograded solution is held to the same
rules (full marks, no cell with an error or stderr output, every figure cell a picture: `_figures.assert_ran_clean`).
Chapters 1 and 2 are also validated here, which tests the `nbgrader validate` path (the Validate button) itself."""
import json
import os
import shutil
import time

import nbformat
import pytest

from course_lib.grading.instructor import Course
from tests._figures import assert_figures_show, keep_outputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSIGNMENTS = ["ch01_setup", "ch02_cartpole", "ch03_franka_reach", "ch04_reward_shaping",
               "ch05_domain_randomization", "ch06_evaluate_deploy"]

# the solutions run top to bottom here; chapters 3-6 run in test_grading_course.py (the module docstring says why)
VALIDATED_HERE = ["ch01_setup", "ch02_cartpole"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    root = tmp_path_factory.mktemp("course_root")
    return Course(root=str(root), release=str(root / "release"), repo=ROOT, log=lambda m: None)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_what_nbgrader_generates(scratch, assignment):
    out = scratch.release(assignment)
    committed = os.path.join(ROOT, "notebooks", assignment)
    gen_files = sorted(os.listdir(out))
    assert gen_files == [f"{assignment}.ipynb"]
    with open(os.path.join(out, gen_files[0])) as f:
        generated = json.load(f)
    with open(os.path.join(committed, gen_files[0])) as f:
        assert json.load(f) == generated, ("notebooks/ is out of date: run `course grade release` (after "
                                           "`python solutions/build.py`), never edit it by hand")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_notebooks_hold_no_solution_and_no_hidden_test(assignment):
    course = Course(repo=ROOT, root=None, log=lambda m: None)
    assert course.leaks_in(os.path.join(ROOT, "notebooks", assignment), assignment) == []
    nb = nbformat.read(os.path.join(ROOT, "notebooks", assignment, f"{assignment}.ipynb"), as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "raise NotImplementedError()" in text and "HIDDEN" not in text and "SOLUTION" not in text


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validate_invert_every_test_fails_on_the_student_notebook(scratch, assignment, tmp_path):
    nb = shutil.copy(os.path.join(ROOT, "notebooks", assignment, f"{assignment}.ipynb"), tmp_path)
    r = scratch.nbgrader("validate", "--invert", nb, check=False, quiet=True)
    assert "Success! The notebook does not pass any tests." in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("assignment", VALIDATED_HERE)
def test_solution_runs_top_to_bottom_and_validates(scratch, assignment, tmp_path, monkeypatch):
    """One execution: `nbgrader validate` runs the notebook with the course's settings (kernel, cell
    time-out); validate_all makes any cell with an error or stderr output a failure. Every cell meant to show a
    figure shows a picture (tests/_figures.py: the executed cells' outputs are recorded by the same run)."""
    nb = shutil.copy(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"), tmp_path)
    executed = keep_outputs(monkeypatch, tmp_path / "record")
    t0 = time.perf_counter()
    r = scratch.nbgrader("validate", "--Validator.validate_all=True", nb, check=False, quiet=True)
    seconds = time.perf_counter() - t0
    print(f"{assignment}: nbgrader validate (the whole notebook, executed) took {seconds:.0f} s")
    assert "Success! Your notebook passes all the tests." in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]
    assert_figures_show(nb, executed)
    if assignment == "ch02_cartpole":
        assert os.path.exists(tmp_path / "runs" / "cartpole_policy.pth")
