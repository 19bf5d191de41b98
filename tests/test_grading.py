"""Grading checks (course_lib.grading): the reference passes, typical mistakes fail with a message that says
what is wrong, and the verdict outside the kernel cannot be changed from inside it. Fast: no notebook runs."""
import json
import os
import subprocess
import sys
import textwrap
import time

import nbformat
import pytest
import torch

import course_lib
from course_lib.grading import CheckFailed, check
from course_lib.grading.core import REGISTRY, get, preamble
from course_lib.grading.isolated import collect_request, find_checks, recheck

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def solution_cells(assignment):
    nb = nbformat.read(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"), as_version=4)
    return [c.source for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]


def namespace(assignment, *edits):
    """The solution cells run after the chapter's preamble, with textual edits ``(old, new)`` applied."""
    src = "\n\n".join(solution_cells(assignment))
    for old, new in edits:
        assert old in src, old
        src = src.replace(old, new)
    ns = {"__name__": "__main__"}
    exec(compile(preamble(assignment) + "\n" + src, f"<{assignment} solution>", "exec"), ns)
    return ns


@pytest.fixture(scope="module")
def ch01():
    return namespace("ch01_setup")


@pytest.fixture(scope="module")
def ch02():
    return namespace("ch02_cartpole")


def failure(name, ns, **params):
    with pytest.raises(CheckFailed) as e:
        check(name, ns, **params)
    return str(e.value)


STATE_CHECKS_02 = ["ch02.observations", "ch02.reward_alive", "ch02.reward_fall", "ch02.reset_conditions",
                   "ch02.reset_state", "ch02.reset_counters"]
CHECKS_01 = ["ch01.reach_reward", "ch01.reset_done_state", "ch01.reset_done_progress", "ch01.steps_per_second"]


# ------------------------------------------------------------------ the reference passes
@pytest.mark.parametrize("name", STATE_CHECKS_02)
def test_ch02_solution_passes_visible_and_hidden_cases(ch02, name, capsys):
    check(name, ch02)
    check(name, ch02, seed=4242, n=2000, edges=True, hidden=True)
    out, err = capsys.readouterr()
    assert out.count("PASS") == 2 and "[hidden cases]" in out and err == ""


@pytest.mark.parametrize("name", CHECKS_01)
def test_ch01_solution_passes(ch01, name, capsys):
    check(name, ch01)
    check(name, ch01, hidden=True, **({"num_envs": 5, "num_steps": 3, "step_s": 0.25} if "steps" in name
                                      else {"seed": 99, "n": 777}))
    out, err = capsys.readouterr()
    assert out.count("PASS") == 2 and err == ""


def test_every_check_is_registered_with_a_behaviour():
    get("ch01.reach_reward")  # loads the chapters
    assert set(STATE_CHECKS_02 + CHECKS_01 + ["ch02.policy"]) <= set(REGISTRY)
    for chk in REGISTRY.values():
        assert chk.behaviour and chk.behaviour[0].islower(), chk.name


# ------------------------------------------------------------------ typical mistakes, chapter 2
SIGN = ("torch.where(failed, -self.fall_penalty, upright)", "torch.where(failed, self.fall_penalty, upright)")


def test_sign_error_of_the_fall_penalty_fails_only_the_fall_test(ch02):
    ns = namespace("ch02_cartpole", SIGN)
    msg = failure("ch02.reward_fall", ns)
    assert "a sign error?" in msg and "expected -10, got 10" in msg
    for name in ("ch02.reward_alive", "ch02.reset_conditions", "ch02.observations"):
        check(name, ns)


def test_observations_in_the_wrong_order_are_named():
    ns = namespace("ch02_cartpole", ("torch.stack((q[:, 0], qd[:, 0], q[:, 1], qd[:, 1]), dim=-1)",
                                     "torch.stack((q[:, 1], qd[:, 1], q[:, 0], qd[:, 0]), dim=-1)"))
    msg = failure("ch02.observations", ns)
    assert "right values in the wrong order" in msg and "(pole angle, pole angular velocity, cart position" in msg


def test_forgotten_progress_reset_fails_the_counter_test_only():
    ns = namespace("ch02_cartpole", ("        self.progress_buf[env_ids] = 0\n", ""))
    assert "progress_buf" in failure("ch02.reset_counters", ns)
    check("ch02.reset_state", ns)


def test_forgotten_cart_condition_is_explained():
    ns = namespace("ch02_cartpole", ("(x.abs() > self.reset_dist) | ", ""))
    msg = failure("ch02.reset_conditions", ns)
    assert "cart off the track" in msg and "|x| > 3 m, ends an episode too" in msg
    hidden = failure("ch02.reset_conditions", ns, seed=5, edges=True, hidden=True)
    assert "[hidden cases]" in hidden and "e.g." not in hidden  # no values of hidden states


def test_reset_of_every_environment_and_constant_resets_fail():
    every = namespace("ch02_cartpole", ("self.set_joint_positions(env_ids, positions)",
                                        "self.set_joint_positions(torch.arange(self.num_envs), "
                                        "torch.zeros(self.num_envs, 2))"))
    assert "not in env_ids" in failure("ch02.reset_state", every)
    constant = namespace("ch02_cartpole", ("0.2 * (torch.rand(n, 2, generator=self.rng, device=self.device) - 0.5)",
                                           "torch.full((n, 2), 0.05)"))
    assert "hardly vary" in failure("ch02.reset_state", constant) or \
        "same state" in failure("ch02.reset_state", constant)
    wide = namespace("ch02_cartpole", ("0.2 * (torch.rand", "2.0 * (torch.rand"))
    assert "outside [-0.1, 0.1]" in failure("ch02.reset_state", wide)


def test_a_method_that_raises_is_reported_with_the_students_line():
    ns = namespace("ch02_cartpole", ("q[:, 0], qd[:, 0], q[:, 1], qd[:, 1]", "q[:, 0], qd[:, 0], q[:, 2], qd[:, 1]"))
    msg = failure("ch02.observations", ns)
    assert "IndexError" in msg and "compute_observations" in msg
    check("ch02.reward_alive", ns)  # the other methods are still graded


def test_the_reference_class_itself_is_refused():
    from course_answers.cartpole import CartpoleTask

    msg = failure("ch02.reward_alive", {"CartpoleTask": CartpoleTask})
    assert "reference task" in msg


def test_a_class_that_borrows_the_references_methods_is_refused():
    """Where the reference is at hand (a checkout of the repository), methods taken from it count as its own."""
    from course_answers.cartpole import CartpoleTask as Reference
    from course_lib.envs import VecEnvBase

    class CartpoleTask(VecEnvBase):
        def __init__(self, cfg, sim_device="cpu", graphics_device_id=0, headless=True):
            self.__dict__.update(vars(Reference(cfg, sim_device, graphics_device_id, headless)))

        compute_observations = Reference.compute_observations
        compute_reward = Reference.compute_reward
        reset_idx = Reference.reset_idx

    for name in ("observations", "reward_alive", "reset_state"):
        assert "reference task" in failure(f"ch02.{name}", {"CartpoleTask": CartpoleTask})


def test_missing_class_says_what_to_run():
    assert "CartpoleTask is not defined" in failure("ch02.observations", {})


def test_student_output_and_warnings_do_not_reach_stderr(capsys):
    ns = namespace("ch02_cartpole", ("        self.reset_buf[:] = failed.long()\n",
                                     "        self.reset_buf[:] = failed.long()\n"
                                     "        import sys, warnings\n"
                                     "        print('debug', file=sys.stderr)\n"
                                     "        warnings.warn('noisy')\n"))
    check("ch02.reward_alive", ns)
    out, err = capsys.readouterr()
    assert err == "" and "PASS" in out and "note: your code printed 1 line(s) to stderr" in out


# ------------------------------------------------------------------ typical mistakes, chapter 1
def test_ch01_mistakes_have_hints():
    no_bonus = namespace("ch01_setup", ("    return reward + 10.0 * (distance < 0.05).float()", "    return reward"))
    assert "+10 bonus" in failure("ch01.reach_reward", no_bonus)
    keepdim = namespace("ch01_setup", ("vector_norm(targets - ee_pos, dim=-1)",
                                       "vector_norm(targets - ee_pos, dim=-1, keepdim=True)"))
    assert "expected (N,)" in failure("ch01.reach_reward", keepdim)
    all_rows = namespace("ch01_setup", ("    q[done] = low + (high - low) * torch.rand(n, q.shape[1], generator=generator, "
                                        "device=q.device)",
                                        "    q[:] = low + (high - low) * torch.rand(q.shape[0], q.shape[1], "
                                        "generator=generator)"))
    assert "not done" in failure("ch01.reset_done_state", all_rows)
    global_rng = namespace("ch01_setup", ("generator=generator, device=q.device", "device=q.device"))
    assert "generator" in failure("ch01.reset_done_state", global_rng)
    warm_in_clock = namespace("ch01_setup", ("    start = clock()\n", ""),
                              ("    env.step(actions)  # warm-up, outside the clock\n",
                               "    start = clock()\n    env.step(actions)\n"))
    assert "after the warm-up" in failure("ch01.steps_per_second", warm_in_clock)
    per_call = namespace("ch01_setup", ("return env.num_envs * num_steps /", "return num_steps /"))
    assert "count every environment" in failure("ch01.steps_per_second", per_call)
    no_warmup = namespace("ch01_setup", ("    env.step(actions)  # warm-up, outside the clock\n", ""))
    assert "one warm-up step" in failure("ch01.steps_per_second", no_warmup)


# ------------------------------------------------------------------ reading test cells
def test_find_checks_reads_literal_check_calls_only():
    src = textwrap.dedent('''\
        # Test: something
        from course_lib.grading import check
        check("ch02.reward_fall", globals(), seed=0)
        ### BEGIN HIDDEN TESTS
        check("ch02.reward_fall", globals(), seed=7, n=10, hidden=True)
        ### END HIDDEN TESTS
        ''')
    assert find_checks(src) == [("ch02.reward_fall", {"seed": 0}),
                                ("ch02.reward_fall", {"seed": 7, "n": 10, "hidden": True})]
    assert find_checks("check('ch02.reward_fall', globals())\nassert x == 1") is None  # not a pure check cell
    assert find_checks("check('ch02.reward_fall', globals(), seed=s)") is None  # not literal
    assert find_checks("%%time\ncheck('x')") is None


# ------------------------------------------------------------------ outside the kernel
def _notebook(solution_src, test_srcs):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(preamble("ch02")))
    sol = nbformat.v4.new_code_cell(solution_src)
    sol.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "sol", "locked": False}
    nb.cells.append(sol)
    for i, src in enumerate(test_srcs):
        t = nbformat.v4.new_code_cell(src)
        t.metadata["nbgrader"] = {"solution": False, "grade": True, "grade_id": f"t{i}", "locked": True, "points": 1}
        nb.cells.append(t)
    return nb


TESTS = ['# Test: obs\ncheck("ch02.observations", globals())',
         '# Test: fall\ncheck("ch02.reward_fall", globals(), seed=3, hidden=True)']


def _solution_src(*edits):
    src = "\n\n".join(solution_cells("ch02_cartpole"))
    for old, new in edits:
        src = src.replace(old, new)
    return src.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", "")


def test_recheck_of_a_correct_notebook_passes(tmp_path):
    r = recheck(_notebook(_solution_src(), TESTS), str(tmp_path))
    assert r.cell_verdict(2)[0] and r.cell_verdict(3)[0], r.verdicts
    assert r.cell_verdict(0) is None


def test_monkeypatching_the_grader_in_the_solution_cell_changes_nothing(tmp_path):
    patch = textwrap.dedent('''
        import course_lib.grading, course_lib.grading.core, course_lib.grading.ch02
        course_lib.grading.check = course_lib.grading.core.check = lambda *a, **k: None
        course_lib.grading.core.run_judge = lambda *a, **k: "patched"
        course_lib.grading.ch02.judge_reward_fall = lambda *a, **k: None
        import torch
        torch.allclose = torch.isclose = lambda *a, **k: torch.tensor(True)
        ''')
    src = _solution_src(SIGN) + patch
    r = recheck(_notebook(src, TESTS), str(tmp_path))
    ok, messages = r.cell_verdict(3)
    assert not ok and "a sign error?" in messages[0] and "[hidden cases]" in messages[0]
    assert r.cell_verdict(2)[0]  # the observations are right


def test_a_solution_cell_that_never_ends_is_cut_off_and_the_class_still_graded(tmp_path):
    src = _solution_src() + "\n\nwhile True:\n    pass\n"
    r = recheck(_notebook(src, TESTS), str(tmp_path), cell_timeout=3)
    assert r.cell_verdict(2)[0] and r.cell_verdict(3)[0], r.verdicts
    assert any("took more than 3 s" in e["error"] for e in r.cell_errors)


def test_a_solution_cell_that_kills_its_process_fails_the_checks_with_a_reason(tmp_path):
    src = _solution_src() + "\n\nimport os\nos._exit(0)\n"
    r = recheck(_notebook(src, TESTS), str(tmp_path))
    ok, messages = r.cell_verdict(2)
    assert not ok and "could not be run in a fresh process" in messages[0]


def test_collect_request_takes_solution_cells_and_checks_only():
    nb = _notebook(_solution_src(), TESTS + ["# Test: plain\nassert 1 == 1"])
    req = collect_request(nb)
    assert [c["index"] for c in req["cells"]] == [1]
    assert [c["name"] for c in req["checks"]] == ["ch02.observations", "ch02.reward_fall"]
    assert req["checks"][1]["params"] == {"seed": 3, "hidden": True}
    assert req["preamble"] == preamble("ch02")


# ------------------------------------------------------------------ trained policies, in a fresh interpreter
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    r = course_lib.train("cartpole", num_envs=16, iterations=2, seed=0, device="cpu", runs_dir=str(runs),
                         progress=False, out=open(os.devnull, "w"))
    return r.checkpoint


def test_policy_evaluation_in_a_subprocess_reports_json(tiny_checkpoint):
    from course_lib.grading.evaluate_policy import run_in_subprocess

    r = run_in_subprocess(tiny_checkpoint, episodes=20, seed=0)
    assert r["ok"] and r["episodes"] == 20 and 0.0 <= r["success_rate"] <= 1.0
    missing = run_in_subprocess("no/such/policy.pth", episodes=5)
    assert not missing["ok"] and "run the training cell" in missing["error"]


def test_policy_evaluation_ignores_the_callers_python_path_and_patches(tiny_checkpoint, tmp_path, monkeypatch):
    from course_lib.grading import evaluate_policy

    # a shadow course_lib on PYTHONPATH that always reports success, and a patch in this process
    fake = tmp_path / "course_lib" / "grading"
    fake.mkdir(parents=True)
    (tmp_path / "course_lib" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "evaluate_policy.py").write_text('print(\'{"ok": true, "success_rate": 1.0, "episodes": 500}\')\n')
    (tmp_path / "sitecustomize.py").write_text("raise SystemExit('sitecustomize ran')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(course_lib, "evaluate", lambda *a, **k: None, raising=False)
    bad = str(tmp_path / "bad.pth")
    torch.save({"model": {}, "course": {"task": "cartpole", "num_obs": 4, "num_actions": 1,
                                        "network": {"units": [8], "activation": "elu", "separate": False}}}, bad)
    r = evaluate_policy.run_in_subprocess(bad, episodes=5, cwd=str(tmp_path))
    assert not r["ok"], r  # the real evaluator ran, and refused the broken checkpoint


def test_policy_judge_messages():
    chk = get("ch02.policy")
    assert "balanced" in pytest.raises(CheckFailed, chk.judge, {"min_success": 0.9},
                                       {"ok": True, "success_rate": 0.5, "episodes": 500, "mean_length": 90}).value.args[0]
    assert "95% CI" in chk.judge({"min_success": 0.9}, {"ok": True, "success_rate": 0.95, "episodes": 500,
                                                         "ci95": [0.93, 0.97]})


# ------------------------------------------------------------------ nbgrader preprocessors
def test_apply_verdict_makes_nbgrader_score_the_fresh_process_result():
    from nbgrader.utils import determine_grade

    from course_lib.grading.nbgrader_ext import apply_verdict

    cell = nbformat.v4.new_code_cell("check(...)")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 2, "grade_id": "t"}
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="PASS\n")]
    apply_verdict(cell, False, ["the behaviour: wrong"])
    assert determine_grade(cell) == (0, 2)
    assert "in your notebook's kernel this test passed" in cell.outputs[-2]["text"]
    # a kernel that failed (error, or a library warning on stderr) does not cost points the fresh process gives
    cell.outputs.append(nbformat.v4.new_output("stream", name="stderr", text="UserWarning: noise\n"))
    apply_verdict(cell, True, ["PASS the behaviour"])
    assert determine_grade(cell) == (2, 2)
    assert not any(o.get("name") == "stderr" for o in cell.outputs)


def test_strip_hidden_tests_and_quiet_stderr():
    from course_lib.grading.nbgrader_ext import QuietStderr, StripHiddenTests

    cell = nbformat.v4.new_code_cell("# Test: x\ncheck('a')\n### BEGIN HIDDEN TESTS\ncheck('a', seed=31337)\n"
                                     "### END HIDDEN TESTS\n")
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="[hidden cases] wrong",
                                           traceback=["----> 4 check('a', seed=31337)", "AssertionError"])]
    StripHiddenTests().preprocess_cell(cell, {}, 0)
    assert "31337" not in json.dumps(cell) and "HIDDEN" not in cell.source
    noisy = nbformat.v4.new_code_cell("x")
    noisy.outputs = [nbformat.v4.new_output("stream", name="stderr", text=(
        "/a/b.py:3: UserWarning: something\n  warnings.warn('something')\n")),
        nbformat.v4.new_output("stream", name="stderr", text="real problem\n")]
    QuietStderr().preprocess_cell(noisy, {}, 0)
    assert [o["text"] for o in noisy.outputs] == ["real problem\n"]


# ------------------------------------------------------------------ notebooks and their sources
def test_solution_notebooks_are_built_from_their_sources():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "solutions", "build.py"), "--check"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_fixture_submissions_are_up_to_date():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "submissions", "make_submissions.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
@pytest.mark.parametrize("assignment", ["ch01_setup", "ch02_cartpole", "ch05_domain_randomization"])
def test_notebook_structure(folder, assignment):
    nb = nbformat.read(os.path.join(ROOT, folder, assignment, f"{assignment}.ipynb"), as_version=4)
    assert nb.metadata.kernelspec.name == "gpu-rl-course"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "outputs must be cleared"
    assert "check_environment" in code[0].source, "notebooks open with the device check"
    assert nb.cells[-1].cell_type == "markdown" and "Something to try" in nb.cells[-1].source
    imports = next(c for c in code if c.metadata.get("nbgrader", {}).get("grade_id") == "imports")
    assert imports.source.strip() == preamble(assignment).strip()
    for c in code:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade"):
            assert c.source.startswith("# Test: "), c.source[:60]  # one behaviour, said in the first line
            assert find_checks(c.source), f"{meta['grade_id']} is not a pure check cell"


def test_grading_cli_arguments():
    from course_lib.grading.cli import main

    assert main(["check", "no_such_notebook.ipynb"]) == 2
    assert main(["grade", "release", "--no-such-option"]) == 2
    assert main(["nonsense"]) == 2


def test_modules_planted_in_the_notebook_folder_are_not_imported_by_the_grader(tmp_path, tiny_checkpoint):
    """The kernel can write files next to the notebook: a fake course_lib or torch there must change nothing."""
    import shutil

    for name in ("course_lib", "torch"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise SystemExit('planted module imported')\n")
    (tmp_path / "runs").mkdir()
    shutil.copy(tiny_checkpoint, tmp_path / "runs" / "cartpole_policy.pth")
    tests = TESTS + ['# Test: policy\ncheck("ch02.policy", globals(), episodes=10, seed=0, min_success=0.0)']
    r = recheck(_notebook(_solution_src(), tests), str(tmp_path))
    assert r.produce_error is None, r.produce_error
    assert r.cell_verdict(2)[0] and r.cell_verdict(4)[0], r.verdicts


def test_processes_left_behind_by_the_solution_cells_are_killed(tmp_path):
    """A solution cell that starts a background process cannot keep it running into the judging step."""
    pidfile = tmp_path / "daemon.pid"
    spawn = textwrap.dedent(f'''
        import subprocess, sys
        _p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pidfile)!r}, "w").write(str(_p.pid))
        ''')
    r = recheck(_notebook(_solution_src() + spawn, TESTS), str(tmp_path))
    assert r.cell_verdict(2)[0]
    pid = int(pidfile.read_text())
    time.sleep(0.5)
    try:
        os.kill(pid, 0)
        alive = not open(f"/proc/{pid}/status").read().count("State:\tZ")
    except (ProcessLookupError, FileNotFoundError):
        alive = False
    assert not alive, f"process {pid} still runs"
