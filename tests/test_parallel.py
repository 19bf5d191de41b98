"""How `make test` runs the suite on two workers (tests/conftest.py): the command line, the units of work, the
longest-first order, and the tiny training runs shared by the test files."""
import os
import re
from pathlib import Path

import pytest

from tests import conftest

ROOT = Path(__file__).resolve().parents[1]


def test_make_test_runs_two_workers_by_unit_and_prints_the_ten_slowest():
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    pytest_line = next(line for line in recipe.splitlines() if "-m pytest" in line)
    for option in ("-ra", "-n 2", "--dist loadscope", "--durations=10"):
        assert option in pytest_line, option
    import tomllib

    test_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert any(r.startswith("pytest-xdist>=3.8") for r in test_extra)  # 3.8: --no-loadscope-reorder


def test_a_module_is_one_unit_unless_split():
    unit = conftest.work_unit
    assert unit("tests/test_rl_eval.py::test_wilson_interval") == "tests/test_rl_eval.py"
    assert unit("tests/test_cli.py::test_help[args0]") == "tests/test_cli.py"
    # the chapter 1-2 instructor workflow is one ordered unit; each chapter's autograde is a unit of its own
    for name in ("test_collect_reads_both_layouts_and_nothing_else", "test_what_the_bad_submissions_show",
                 "test_grades_csv_has_every_student", "test_the_gradebook_lost_nobody"):
        assert unit(f"tests/test_grading_course.py::{name}") == "tests/test_grading_course.py"
    assert (unit("tests/test_grading_course.py::test_ch05_submissions_get_the_expected_scores")
            == "tests/test_grading_course.py::test_ch05_submissions_get_the_expected_scores")
    # the notebook tests, by assignment
    for name in ("test_release_is_what_nbgrader_generates", "test_solution_runs_top_to_bottom_and_validates"):
        assert unit(f"tests/test_notebooks.py::{name}[ch04_reward_shaping]") == "tests/test_notebooks.py[ch04_reward_shaping]"


def test_every_timed_unit_is_in_the_suite():
    """A unit renamed or removed must leave SECONDS too (or the order silently falls back to the file order)."""
    for name in conftest.SECONDS:
        module, _, rest = name.partition("::")
        module, _, param = module.partition("[")
        source = (ROOT / module).read_text()
        if rest:
            assert re.search(rf"^def {rest}\(", source, re.M), name
        if param:
            assert f'"{param.rstrip("]")}"' in source, name
        assert conftest.work_unit(f"{module}::{rest or 'test_x'}{'[' + param if param else ''}") == name


class _Item:
    def __init__(self, nodeid):
        self.nodeid = nodeid


def test_the_longest_units_go_first_and_a_unit_keeps_its_order(monkeypatch):
    ids = ["tests/test_a.py::test_1", "tests/test_grading_course.py::test_collect",
           "tests/test_grading_course.py::test_ch03_submissions_get_the_expected_scores",
           "tests/test_grading_course.py::test_feedback", "tests/test_notebooks.py::test_release[ch01_setup]",
           "tests/test_notebooks.py::test_release[ch05_domain_randomization]", "tests/test_a.py::test_2",
           "tests/test_notebooks.py::test_solution[ch01_setup]",
           "tests/test_notebooks.py::test_solution[ch05_domain_randomization]"]
    items = [_Item(i) for i in ids]
    monkeypatch.setattr(conftest, "WORKER", "gw0")
    conftest.pytest_collection_modifyitems(None, items)
    # SECONDS: the chapter 1-2 workflow (1310) > chapter 3's autograde (625) > test_notebooks' chapter 5 unit (400,
    # its `validate --invert`: the solution runs in the autograde); units not listed keep the files' order
    assert [i.nodeid for i in items] == [
        "tests/test_grading_course.py::test_collect", "tests/test_grading_course.py::test_feedback",
        "tests/test_grading_course.py::test_ch03_submissions_get_the_expected_scores",
        "tests/test_notebooks.py::test_release[ch05_domain_randomization]",
        "tests/test_notebooks.py::test_solution[ch05_domain_randomization]",
        "tests/test_a.py::test_1", "tests/test_a.py::test_2",
        "tests/test_notebooks.py::test_release[ch01_setup]", "tests/test_notebooks.py::test_solution[ch01_setup]"]
    monkeypatch.setattr(conftest, "WORKER", None)  # a run without workers keeps the files' order
    items = [_Item(i) for i in ids]
    conftest.pytest_collection_modifyitems(None, items)
    assert [i.nodeid for i in items] == ids


def test_threads_per_worker(monkeypatch):
    if os.environ.get("PYTEST_XDIST_WORKER"):  # in a worker: no more torch threads than its share of the cores
        import torch

        assert torch.get_num_threads() <= conftest.threads_per_worker()
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    assert conftest.threads_per_worker() == max(1, cores // 2)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(cores + 1))
    assert conftest.threads_per_worker() == 1


def test_a_tiny_run_is_trained_once_per_session(tmp_path_factory, monkeypatch):
    """train_tiny twice gives the same run (the second call reads the first's result) without training again."""
    import course_lib
    from tests._helpers import train_tiny

    first = train_tiny("cartpole", tmp_path_factory)

    def no_training(*a, **k):
        raise AssertionError("trained again")

    monkeypatch.setattr(course_lib, "train", no_training)
    again = train_tiny("cartpole", tmp_path_factory)
    assert again.checkpoint == first.checkpoint and os.path.isfile(again.checkpoint)
    assert again.task == "cartpole" and again.iterations == 3
    with pytest.raises(AssertionError, match="trained again"):
        course_lib.train("cartpole")  # the patch is what would have run


# ------------------------------------------------------------------ the scheduler, on two simulated workers
class _Worker:
    def __init__(self, name):
        import types

        self.name, self.queue, self.shutting_down = name, [], False
        self.gateway = types.SimpleNamespace(id=name)

    def send_runtest_some(self, indices):
        self.queue.extend(indices)

    def shutdown(self):
        self.shutting_down = True


class _Config:
    def __init__(self):
        import types

        self.option = types.SimpleNamespace(loadscopereorder=True)

    def getvalue(self, name):
        return {"tx": ["2*popen"]}[name]


def _simulate(scheduler, collection, seconds):
    """Two workers as xdist runs them (a worker starts a test once it holds the next one, or is told to stop);
    returns the time the last one finishes and, per worker, the long units it held at once at some point."""
    workers = [_Worker("gw0"), _Worker("gw1")]
    for w in workers:
        scheduler.add_node(w)
    for w in workers:
        scheduler.add_node_collection(w, collection)
    scheduler.schedule()
    now, running, held_long = 0.0, {}, {w.name: 0 for w in workers}
    while True:
        for w in workers:
            if w not in running and w.queue and (len(w.queue) >= 2 or w.shutting_down or not scheduler.workqueue):
                i = w.queue.pop(0)
                running[w] = (now + seconds[collection[i]], i)
            held = w.queue + ([running[w][1]] if w in running else [])
            pending_long = {conftest.work_unit(collection[i]) for i in held}
            held_long[w.name] = max(held_long[w.name], len(pending_long & set(conftest.SECONDS)))
        if not running:
            break
        w = min(running, key=lambda x: running[x][0])
        now, i = running.pop(w)
        scheduler.mark_test_complete(w, i)
    assert not any(w.queue for w in workers) and not scheduler.workqueue  # every test ran
    return now, held_long


class _Quiet:
    def __getattr__(self, name):
        return lambda *a, **k: None


def _suite(chapter_factor):
    """The suite's shape: the timed units (tests/test_notebooks.py's four tests per assignment, the last one long;
    a module of ten tests), the autogrades of tests/test_grading_course.py ``chapter_factor`` times as long as
    timed, then 20 short modules; shuffled, then sorted as a worker sorts them. Returns the collection and each
    test's seconds."""
    import random

    seconds = {}
    for unit, s in conftest.SECONDS.items():
        module, _, rest = unit.partition("::")
        if module == "tests/test_grading_course.py":
            s *= chapter_factor
        if rest:  # one test: a chapter's autograde
            seconds[unit] = s
        elif "[" in module:
            m, p = module.split("[")
            for k, name in enumerate(("release", "leaks", "invert", "solution")):
                seconds[f"{m}::test_{name}[{p}"] = 5 if k < 3 else s - 15
        else:
            for k in range(10):
                seconds[f"{unit}::test_{k}"] = s / 10
    for m in range(20):
        for k in range(10):
            seconds[f"tests/test_short_{m:02d}.py::test_{k}"] = 1.5
    items = [_Item(i) for i in seconds]
    random.Random(0).shuffle(items)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conftest, "WORKER", "gw0")
        conftest.pytest_collection_modifyitems(None, items)
    return [i.nodeid for i in items], seconds


def test_a_worker_busy_with_a_long_unit_never_takes_a_second_one():
    """With the course's scheduler neither worker holds two long units at once, and the two finish within a short
    unit of the total / 2, also when the autogrades take twice as long as timed; xdist's own loadscope (the
    same order kept) gives one worker several long units at once and, then, finishes minutes later."""
    pytest.importorskip("xdist")
    from xdist.scheduler import LoadScopeScheduling

    for factor in (1, 2):
        collection, seconds = _suite(factor)
        ours, held = _simulate(conftest.make_scheduler(_Config(), _Quiet()), collection, seconds)
        assert max(held.values()) == 1, (factor, held)
        assert ours <= sum(seconds.values()) / 2 + 30, (factor, ours, sum(seconds.values()))

        config = _Config()
        config.option.loadscopereorder = False
        plain = LoadScopeScheduling(config, _Quiet())
        plain._split_scope = conftest.work_unit
        theirs, held = _simulate(plain, collection, seconds)
        assert max(held.values()) >= 2, (factor, held)
        if factor == 2:
            assert theirs > ours + 60, (theirs, ours)
