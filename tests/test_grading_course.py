"""The instructor's workflow end to end, in a temporary course root: collect a zip of submissions, autograde
them, give feedback, export grades, package for students.

The fixtures (tests/submissions/, built by make_submissions.py) are the student release filled in: the
solution (the real notebook, graded with the course's real configuration), and submissions wrong in one known
way each, graded together in one nbgrader run with a 90 s cell time-out so that the one that never ends costs
90 s rather than 300 s. Each must get exactly the scores in make_submissions.LOST.
"""
import csv
import importlib.util
import io
import json
import os
import time
import zipfile

import nbformat
import pytest

from course_lib.grading.instructor import Course, GradingError
from tests._figures import assert_ran_clean

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBS = os.path.join(ROOT, "tests", "submissions")

pytestmark = pytest.mark.slow

_spec = importlib.util.spec_from_file_location("make_submissions", os.path.join(SUBS, "make_submissions.py"))
ms = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ms)

BAD_TIMEOUT = 90  # s per cell for the bad submissions (the solution is graded with the real 300 s)
TIMES = {}


def zip_of(path, entries):
    """entries: {name in the zip: fixture path}"""
    with zipfile.ZipFile(path, "w") as z:
        for name, src in entries.items():
            z.write(src, name)
        z.writestr("README.txt", "not a submission")
        z.writestr("__MACOSX/alice/._ch02_cartpole.ipynb", "junk")
    return str(path)


def bad_id(student):
    return f"bad-{student}"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    c = Course(root=str(root), release=str(root / "release"), repo=ROOT, log=print)
    for a in ("ch01_setup", "ch02_cartpole"):
        c.release(a)
    return c


@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    d = tmp_path_factory.mktemp("zips")
    bad = {s: ms.path_of("ch02_cartpole", s) for s in ms.SUBMISSIONS["ch02_cartpole"] if s != "solution"}
    # two layouts: a folder per student, and <student>_<notebook> (an LMS export)
    entries = {f"{bad_id(s)}/ch02_cartpole.ipynb": p for s, p in bad.items() if s != "stderr_flood"}
    entries[f"{bad_id('stderr_flood')}_ch02_cartpole.ipynb"] = bad["stderr_flood"]
    return {
        "ch02_bad": zip_of(d / "ch02_bad.zip", entries),
        "ch02_solution": zip_of(d / "ch02_solution.zip",
                                {"solution/ch02_cartpole/ch02_cartpole.ipynb": ms.path_of("ch02_cartpole", "solution")}),
        "ch01": zip_of(d / "ch01.zip", {"solution/ch01_setup.ipynb": ms.path_of("ch01_setup", "solution"),
                                        "bad-no_bonus/ch01_setup.ipynb": ms.path_of("ch01_setup", "no_bonus")}),
    }


def cells(rows, student):
    row = next(r for r in rows if r["student"] == student)
    return row, {k: v for k, v in row["cells"].items()}


def autograded(course, student, assignment="ch02_cartpole"):
    return nbformat.read(os.path.join(course.root, "autograded", student, assignment, f"{assignment}.ipynb"),
                         as_version=4)


def outputs_text(cell):
    return "".join(o.get("text", "") + o.get("evalue", "") for o in cell.outputs)


# ------------------------------------------------------------------ collect
def test_collect_reads_both_layouts_and_nothing_else(course, zips, tmp_path):
    students = course.collect("ch02_cartpole", zips["ch02_bad"])
    assert students == sorted(bad_id(s) for s in ms.SUBMISSIONS["ch02_cartpole"] if s != "solution")
    for s in students:
        d = os.path.join(course.root, "submitted", s, "ch02_cartpole")
        assert sorted(os.listdir(d)) == ["ch02_cartpole.ipynb", "timestamp.txt"]
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../escape/ch02_cartpole.ipynb", "{}")
        z.writestr("bob smith/ch02_cartpole.ipynb", "{}")
    with pytest.raises(GradingError, match="not a usable student id"):
        course.collect("ch02_cartpole", str(evil))
    assert not os.path.exists(os.path.join(course.root, "..", "escape"))


# ------------------------------------------------------------------ autograde
@pytest.mark.timeout(2400)
def test_bad_submissions_get_the_expected_partial_scores_in_one_run(course, zips):
    """One nbgrader run for all of them: none stops the others, each loses exactly what it should."""
    fast = Course(root=course.root, release=course.release_dir, repo=ROOT, cell_timeout=BAD_TIMEOUT, log=print)
    t0 = time.perf_counter()
    rows = fast.autograde("ch02_cartpole", "bad-*")
    TIMES["bad"] = time.perf_counter() - t0
    print(f"autograded {len(rows)} bad submissions in {TIMES['bad']:.0f} s")
    problems = []
    for student in ms.SUBMISSIONS["ch02_cartpole"]:
        if student == "solution":
            continue
        row, got = cells(rows, bad_id(student))
        want = ms.expected_cells("ch02_cartpole", student)
        if got != want:
            problems.append(f"{student}: got {got}, expected {want}")
        assert row["graded"] and row["max_score"] == 15
    assert not problems, "\n".join(problems)
    # only the edited test cell stops a grading, and the summary says which and why
    assert set(fast.failures) == {bad_id("edited_test")}, fast.failures
    assert "test_reward_alive' was edited" in fast.failures[bad_id("edited_test")]


def test_what_the_bad_submissions_show(course):
    # the cell that never ends was cut off, and the notebook went on
    nb = autograded(course, bad_id("never_ends"))
    loop = next(c for c in nb.cells if "while not bool(env.reset_buf.any())" in c.source)
    assert any(o.get("output_type") == "error" for o in loop.outputs), loop.outputs
    assert any("runs/cartpole_policy.pth" in outputs_text(c) for c in nb.cells if c.cell_type == "code")
    # the monkeypatch fooled the kernel, not the grade: the verdict comes from outside the sandbox
    nb = autograded(course, bad_id("monkeypatch"))
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_reward_alive")
    assert "a separate process compared their results with the reference" in outputs_text(test)
    assert "AssertionError" in [o.get("ename") for o in test.outputs]
    # the edited test cell stopped that student's grading, with the reason in every test cell and the summary
    nb = autograded(course, bad_id("edited_test"))
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_reward_alive")
    assert "the test cell 'test_reward_alive' was edited" in outputs_text(test)
    assert "edited by the student" not in test.source
    # the stderr flood is cut short in the autograded notebook
    nb = autograded(course, bad_id("stderr_flood"))
    flood = next(c for c in nb.cells if "of a flood" in c.source)
    assert sum(len(o.get("text", "")) for o in flood.outputs) < 100_000


def test_solutions_get_full_marks_with_the_real_configuration(course, zips):
    course.collect("ch02_cartpole", zips["ch02_solution"])
    t0 = time.perf_counter()
    rows = course.autograde("ch02_cartpole", "solution")
    TIMES["solution"] = time.perf_counter() - t0
    print(f"autograded the ch02 solution (the real notebook, 300 s cell time-out) in {TIMES['solution']:.0f} s")
    row, got = cells(rows, "solution")
    assert (row["score"], row["max_score"]) == (15, 15), got
    nb = autograded(course, "solution")
    errors = [c.get("id") for c in nb.cells if c.cell_type == "code"
              and any(o.get("output_type") == "error" for o in c.outputs)]
    assert errors == []  # top to bottom, no cell raised
    course.collect("ch01_setup", zips["ch01"])
    rows = course.autograde("ch01_setup")
    assert cells(rows, "solution")[0]["score"] == 7
    assert cells(rows, "bad-no_bonus")[1] == ms.expected_cells("ch01_setup", "no_bonus")


def test_the_gradebook_lost_nobody(course):
    students = {r["student"] for r in course.scores("ch02_cartpole") if r["graded"]}
    assert students == {"solution"} | {bad_id(s) for s in ms.SUBMISSIONS["ch02_cartpole"] if s != "solution"}
    assert {r["student"] for r in course.scores("ch01_setup") if r["graded"]} == {"solution", "bad-no_bonus"}


def test_course_check_grades_as_the_autograder(course, capsys):
    """`course check` (for students without the Validate button) gives the autograder's scores."""
    from course_lib.grading.cli import check_notebook

    for student in ("solution", bad_id("obs_order"), bad_id("monkeypatch")):
        path = os.path.join(course.root, "autograded", student, "ch02_cartpole", "ch02_cartpole.ipynb")
        r = check_notebook(path, execute=False)  # the notebook's folder holds its runs/cartpole_policy.pth
        row = next(x for x in course.scores("ch02_cartpole") if x["student"] == student)
        assert (r["score"], r["max_score"]) == (row["score"], row["max_score"]), student
        assert {t["grade_id"]: t["score"] for t in r["tests"]} == row["cells"], student
    out = capsys.readouterr().out
    assert "FAIL 0/2  observations are (cart position" in out and "Score: 15/15" in out


# ------------------------------------------------------------------ feedback, export, package
def test_feedback_has_no_hidden_test(course):
    from nbconvert import HTMLExporter

    from course_lib.grading.instructor import hidden_test_leaks, html_text

    files = course.feedback("ch02_cartpole") + course.feedback("ch01_setup")
    assert len(files) == len(ms.SUBMISSIONS["ch02_cartpole"]) + len(ms.SUBMISSIONS["ch01_setup"])
    hidden = set()
    for a in ("ch01_setup", "ch02_cartpole"):
        src = nbformat.read(os.path.join(ROOT, "solutions", a, f"{a}.ipynb"), as_version=4)
        for c in src.cells:
            if "BEGIN HIDDEN TESTS" in c.source:
                block = c.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
                hidden.update(ln.strip() for ln in block.splitlines() if ln.strip())
    assert len(hidden) >= 10
    # the detector finds hidden tests in an HTML page that has them (nbconvert without the course's stripping)
    raw, _ = HTMLExporter().from_notebook_node(autograded(course, bad_id("sign_error")))
    assert len(hidden_test_leaks(raw, hidden)) >= 5
    for path in files:
        html = open(path).read()
        assert hidden_test_leaks(html, hidden) == [], path
    # the failing hidden checks still explain themselves, without the values of hidden states
    bad = html_text(open(next(f for f in files if f"{os.sep}{bad_id('sign_error')}{os.sep}" in f)).read())
    assert "[hidden cases]" in bad and "a sign error?" in bad


def test_grades_csv_has_every_student(course, tmp_path):
    roster = tmp_path / "roster.csv"
    everyone = ["solution", "bad-no_bonus", "no_show"] + [bad_id(s) for s in ms.SUBMISSIONS["ch02_cartpole"]
                                                          if s != "solution"]
    roster.write_text("id,first_name,last_name,email\n" + "".join(f"{s},,,\n" for s in everyone))
    course.add_students(str(roster))
    path = course.export(str(tmp_path / "grades.csv"))
    rows = list(csv.DictReader(open(path)))
    by = {(r["assignment"], r["student_id"]): float(r["score"]) for r in rows}
    for s in everyone:
        assert ("ch02_cartpole", s) in by and ("ch01_setup", s) in by, s
    assert by["ch02_cartpole", "solution"] == 15 and by["ch02_cartpole", "no_show"] == 0
    assert by["ch02_cartpole", bad_id("monkeypatch")] == 15 - 2 - 5


def test_student_package_has_no_solution_and_no_hidden_test(course, tmp_path):
    out = course.package(["ch01_setup", "ch02_cartpole"], str(tmp_path / "students.zip"))
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        texts = {n: z.read(n).decode() for n in names if not n.endswith(".whl")}
    assert "course/ch02_cartpole/ch02_cartpole.ipynb" in names and "course/README.md" in names
    assert not any(n.endswith((".pth", ".py")) and "nbgrader_config" not in n for n in names)
    # the library students install ships in the package, without the instructor's answers (issue 12, point 5)
    (wheel,) = [n for n in names if n.startswith("course/wheels/") and n.endswith(".whl")]
    assert f"wheels/{os.path.basename(wheel)}[lab]" in texts["course/README.md"]
    with zipfile.ZipFile(io.BytesIO(zipfile.ZipFile(out).read(wheel))) as w:
        inside = w.namelist()
    assert "course_lib/grading/expected/ch02.pt" in inside and "course_lib/answers.py" in inside
    assert not [n for n in inside if n.split("/")[0] in ("course_answers", "solutions", "tests")]
    for a in ("ch01_setup", "ch02_cartpole"):
        src = nbformat.read(os.path.join(ROOT, "solutions", a, f"{a}.ipynb"), as_version=4)
        for c in src.cells:
            for begin, end in (("### BEGIN SOLUTION", "### END SOLUTION"), ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")):
                if begin in c.source:
                    for block in c.source.split(begin)[1:]:
                        for line in block.split(end)[0].splitlines():
                            line = line.strip()
                            if len(line) >= 12 and not line.startswith("#"):
                                public = c.source.replace(block.split(end)[0], "")
                                if line in public:
                                    continue
                                for n, t in texts.items():
                                    body = json.loads(t) if n.endswith(".ipynb") else None
                                    shown = "\n".join(cc["source"] if isinstance(cc["source"], str) else
                                                      "".join(cc["source"]) for cc in body["cells"]) if body else t
                                    assert line not in shown.split("\n") and line not in [x.strip() for x in
                                                                                        shown.split("\n")], (n, line)


def autograde_chapter(course, tmp_path, a: str, max_score: int) -> None:
    """Release ``a``, collect all its fixtures (``<chNN>-<fixture>``) in one zip, autograde them in one nbgrader run
    with the real configuration, and assert that each gets exactly the scores of make_submissions.LOST."""
    prefix = a[:4]
    course.release(a)
    entries = {f"{prefix}-{s}/{a}.ipynb": ms.path_of(a, s) for s in ms.SUBMISSIONS[a]}
    students = course.collect(a, zip_of(tmp_path / f"{prefix}.zip", entries))
    assert students == sorted(f"{prefix}-{s}" for s in ms.SUBMISSIONS[a])
    t0 = time.perf_counter()
    rows = course.autograde(a, f"{prefix}-*")
    TIMES[prefix] = time.perf_counter() - t0
    print(f"autograded {len(rows)} {prefix} submissions in {TIMES[prefix]:.0f} s")
    problems = []
    for student in ms.SUBMISSIONS[a]:
        row, got = cells(rows, f"{prefix}-{student}")
        want = ms.expected_cells(a, student)
        if got != want:
            problems.append(f"{student}: got {got}, expected {want}")
        assert row["graded"] and row["max_score"] == max_score
    assert not problems, "\n".join(problems)
    # the solution ran top to bottom as `nbgrader validate --Validator.validate_all=True` requires (for chapters
    # 3-6 this is that check: test_notebooks.py does not run them a second time)
    figures = assert_ran_clean(autograded(course, f"{prefix}-solution", a))
    print(f"{prefix}-solution: every cell ran without an error or stderr, {figures} figure cells showed a picture")


def cell_output(course, a, student, grade_id):
    """The text a test cell of an autograded fixture printed."""
    nb = autograded(course, f"{a[:4]}-{student}", a)
    return outputs_text(next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id))


@pytest.mark.timeout(2400)
def test_ch03_submissions_get_the_expected_scores(course, tmp_path):
    """Chapter 3 in one autograde run: the solution (300 iterations of training on the CPU, the policy evaluated on
    1000 reference episodes in a fresh process) gets 18/18; a wrong observation order, a missing success bonus,
    targets outside the box and the listing's reset pose each lose their test (and, not having trained, the two
    policy tests)."""
    a = "ch03_franka_reach"
    autograde_chapter(course, tmp_path, a, 18)
    out = cell_output(course, a, "solution", "test_policy_reward")
    assert "PASS" in out and "mean reward per control step" in out
    assert "outside the Panda's limits" in cell_output(course, a, "listing_joints", "test_reset_joints")


@pytest.mark.timeout(2400)
def test_ch04_submissions_get_the_expected_scores(course, tmp_path):
    """Chapter 4 in one autograde run: the solution (it trains sparse and dense for 200 iterations each, then the
    improved reward twice) gets 11/11, with the comparison recomputed from its own runs; each wrong submission loses
    exactly its points."""
    a = "ch04_reward_shaping"
    autograde_chapter(course, tmp_path, a, 11)
    out = cell_output(course, a, "solution", "test_comparison")
    assert "PASS" in out and "over the last 50 iterations" in out


@pytest.mark.timeout(2400)
def test_ch05_submissions_get_the_expected_scores(course, tmp_path):
    """Chapter 5 in one autograde run: the solution (nominal and randomized training, four evaluations, the mass
    sweep) gets 18/18 with its randomized policy evaluated on the reference randomized test set in a fresh process;
    each wrong sampler or noise function loses exactly its points (statistical checks on fixed seeds), and, having
    skipped the training, the policy test."""
    a = "ch05_domain_randomization"
    autograde_chapter(course, tmp_path, a, 18)
    out = cell_output(course, a, "solution", "test_policy")
    assert "PASS" in out and "reference randomized test set" in out
    out = cell_output(course, a, "same_for_every_env", "test_physics_env_ids")
    assert "same mass scale" in out or "correlated" in out


@pytest.mark.timeout(2400)
def test_ch06_submissions_get_the_expected_scores(course, tmp_path):
    """Chapter 6 in one autograde run: the solution (two trainings, exports, every deployment) gets 15/15 with its
    exported randomized policy deployed to MuJoCo in a fresh process (nominal and 3 steps late); a normal-approximation
    interval, an observation with tcp - target and an export without the normalisation each lose their test(s) and,
    having skipped the training (no exported policy), the two deployment tests."""
    a = "ch06_evaluate_deploy"
    autograde_chapter(course, tmp_path, a, 15)
    out = cell_output(course, a, "solution", "test_deployed")
    assert "PASS" in out and "episodes on the Panda in MuJoCo" in out
    assert "normal approximation" in cell_output(course, a, "wilson_normal", "test_wilson")
    assert "target - tcp" in cell_output(course, a, "obs_sign_flipped", "test_observation")
    assert "WITHOUT the observation normalisation" in cell_output(course, a, "export_no_normalization",
                                                                  "test_export_match")
    assert "run the export cell" in cell_output(course, a, "wilson_normal", "test_deployed")
