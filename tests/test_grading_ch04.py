"""Chapter 4's checks: the solution cells pass every check (hidden ones too), the typical mistakes fail with a
message that names them, and the comparison is recomputed from the student's own two runs."""
import os
import re

import nbformat
import pytest
import torch

import course_lib
from course_lib.grading import CheckFailed, check, export_policy
from course_lib.grading.core import preamble
from tests._helpers import notebook_check_calls

torch.set_num_threads(1)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NB = os.path.join(ROOT, "solutions", "ch04_reward_shaping", "ch04_reward_shaping.ipynb")
HIDDEN = notebook_check_calls("ch04_reward_shaping", hidden=True)  # the notebook's hidden cases (solutions/src)


def _cells():
    nb = nbformat.read(NB, as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}


def solution_namespace(edits=()):
    """The preamble and the solution cells, run as the grader runs them, with textual edits (old, new) applied."""
    cells = _cells()
    src = "\n".join(cells[g] for g in ("rewards", "improved_reward", "final_success"))
    for old, new in edits:
        assert old in src, old
        src = src.replace(old, new)
    ns = {}
    exec(compile(preamble("ch04") + "\n" + src, "<ch04 solution>", "exec"), ns)
    return ns


def test_imports_cell_is_the_preamble():
    assert _cells()["imports"].strip() == preamble("ch04").strip()


@pytest.mark.parametrize("name, params", [
    ("ch04.sparse_reward", {}), ("ch04.sparse_reward", HIDDEN["ch04.sparse_reward"][0]),
    ("ch04.dense_reward", {"edges": True}), ("ch04.improved_reward", {}),
    ("ch04.improved_reward", HIDDEN["ch04.improved_reward"][0]),
    ("ch04.final_success", {}), ("ch04.final_success", HIDDEN["ch04.final_success"][1]),
])
def test_solution_passes(name, params, capsys):
    check(name, solution_namespace(), **params)
    assert capsys.readouterr().out.startswith("PASS")


@pytest.mark.parametrize("name, edit, message", [
    ("ch04.sparse_reward", ("return 10.0 * (distance < 0.05).float()", "return torch.full_like(distance, 10.0)"),
     "only for distances below 0.05"),
    ("ch04.dense_reward", ("return -distance + 10.0 * (distance < 0.05).float()", "return -distance"),
     "bonus within 5 cm is missing"),
    ("ch04.improved_reward", ("near_limit = (q < q_lower + 0.15) | (q > q_upper - 0.15)", "near_limit = q.abs() > 0.9"),
     "chapter's `abs(q) > 0.9` test"),
    ("ch04.improved_reward", ("reward = reward - 2.0 * collided.float()", "pass"), "collision penalty is missing"),
    ("ch04.improved_reward", ("-distance + 5.0 *", "-distance + 10.0 *"), "scaled +5"),
    ("ch04.final_success", ("/ episodes\n", "/ len(rows)\n"), "final_success returned"),
])
def test_mistakes_fail_with_a_hint(name, edit, message):
    ns = solution_namespace([edit])
    with pytest.raises(CheckFailed, match=re.escape(message)):
        check(name, ns, seed=0, hidden=False)


def test_hidden_failures_do_not_show_values():
    ns = solution_namespace([("near_limit = (q < q_lower + 0.15) | (q > q_upper - 0.15)", "near_limit = q.abs() > 0.9")])
    with pytest.raises(CheckFailed) as e:
        check("ch04.improved_reward", ns, seed=HIDDEN["ch04.improved_reward"][0]["seed"], n=600, edges=True,
              hidden=True)
    assert "[hidden cases]" in str(e.value) and "e.g." not in str(e.value)


def _train_runs(rewards):
    """runs/ch04_<name>{_metrics.csv,.pth} as the notebook's training cell writes them, 3 iterations each."""
    for name, reward in rewards.items():
        r = course_lib.train("franka_reach", num_envs=16, iterations=3, device="cpu", seed=0, name=f"ch04_{name}",
                             reward=reward, progress=False, out=open(os.devnull, "w"))
        os.makedirs("runs", exist_ok=True)
        with open(f"{r.run_dir}/metrics.csv") as src, open(f"runs/ch04_{name}_metrics.csv", "w") as dst:
            dst.write(src.read())
        export_policy(r, f"runs/ch04_{name}.pth")


def test_comparison_is_recomputed_from_the_students_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns = solution_namespace()
    _train_runs({"sparse": ns["sparse_reward"], "dense": ns["dense_reward"]})  # trained with their own functions
    check("ch04.comparison", ns, last=2, min_iterations=3)
    assert "PASS" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="has 3 iterations; the exercise trains for 200"):
        check("ch04.comparison", ns, last=50, min_iterations=200)
    # the student's number must be what their function gives on their own file
    ns["final_success"] = lambda metrics, last=50: 0.5
    with pytest.raises(CheckFailed, match="final_success on your sparse run gives 0.5"):
        check("ch04.comparison", ns, last=2, min_iterations=3)
    os.remove("runs/ch04_dense.pth")
    with pytest.raises(CheckFailed, match="runs/ch04_dense.pth is missing: run the training cell"):
        check("ch04.comparison", solution_namespace(), last=2, min_iterations=3)


def test_runs_of_the_reference_rewards_earn_nothing(tmp_path, monkeypatch):
    """Where the instructor's rewards are (reward="sparse"), runs trained with them are not the student's."""
    monkeypatch.chdir(tmp_path)
    _train_runs({"sparse": "sparse", "dense": "dense"})
    with pytest.raises(CheckFailed, match=r"trained with reward='sparse', not your sparse_reward: train it with "
                                          r"course_lib.train\('franka_reach', reward=sparse_reward"):
        check("ch04.comparison", solution_namespace(), last=2, min_iterations=3)
