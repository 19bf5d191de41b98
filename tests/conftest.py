"""Fixtures several test files share (opt-in: a file asks for them; nothing here is autouse), and how the suite
runs on two workers.

``make test`` runs ``pytest -n 2 --dist loadscope`` (pytest-xdist). With that mode this file's scheduler
(``pytest_xdist_make_scheduler``) hands each worker whole work units:

* a unit is a test module by default, so that its module-scoped fixtures (an autograded course root, a trained
  policy) are computed once, on one worker, and its tests run in the file's order (tests/test_grading_course.py's
  instructor workflow depends on that order);
* two slow modules are cut where their tests are independent (``SPLIT``): test_notebooks.py by assignment (its
  module fixture is an empty scratch course root), and each chapter's autograde test of test_grading_course.py
  on its own (each releases, collects and grades its chapter in the course root of the worker that runs it);
* units are started longest first (``SECONDS``, measured on the 2-core VM; units not listed count as short), so
  that the two workers finish together instead of one waiting for a long unit started last; a worker busy with
  a long unit takes a short one as its next (``make_scheduler``), never a second long one.

In each worker torch uses (cores // workers) threads: two workers with two threads each on 2 cores spin-wait for
each other (see ``one_torch_thread``). Other ``-n``/``--dist`` choices still run every test, in xdist's own way;
``--dist load`` would split test_grading_course.py's ordered workflow over two workers and is not supported.
"""
import os
import re

import pytest
import torch

WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ... in an xdist worker; None otherwise

# Modules whose tests are cut into smaller units (nodeid -> unit); every other module is one unit.
SPLIT = {
    # release / leaks / validate --invert / solution top to bottom, per assignment (the parameter)
    "tests/test_notebooks.py": lambda rest: "[" + rest.rsplit("[", 1)[1] if "[" in rest else None,
    # one unit per chapter autograde test (chapters 3-6); the chapter 1-2 instructor workflow stays one unit
    "tests/test_grading_course.py": lambda rest: rest if re.fullmatch(r"test_ch0\d_submissions_get_the_expected_scores",
                                                                     rest) else None,
}

# Seconds a unit took in one `make test` on the 2-core VM while other work kept its load at 4-8 (2026-12-07; about
# 2.5x an idle run, benchmarks/RESULTS.md "Test suite on two workers"): only their order matters. The chapter 3, 5
# and 6 units were cut short there by cell time-outs of the solution's training (each would take longer). The
# test_notebooks units of chapters 3-6 no longer run the solution (test_grading_course's autograde of the chapter
# does): what is left there is mostly `validate --invert`, which runs the release with its trainings (about half).
# Units not listed are short and come after these, in file order.
SECONDS = {
    "tests/test_grading_course.py": 1310,
    "tests/test_grading_course.py::test_ch04_submissions_get_the_expected_scores": 1100,
    "tests/test_grading_course.py::test_ch06_submissions_get_the_expected_scores": 900,
    "tests/test_notebooks.py[ch06_evaluate_deploy]": 750,
    "tests/test_grading_course.py::test_ch05_submissions_get_the_expected_scores": 700,
    # the red-team suite: 16 chapter 2 notebooks autograded in sandboxes in one run (~700 s at load 5; fewer alone)
    "tests/test_redteam.py": 700,
    "tests/test_grading_course.py::test_ch03_submissions_get_the_expected_scores": 625,
    "tests/test_notebooks.py[ch05_domain_randomization]": 400,
    "tests/test_notebooks.py[ch02_cartpole]": 260,
    "tests/test_notebooks.py[ch04_reward_shaping]": 200,
    "tests/test_notebooks.py[ch03_franka_reach]": 150,
    "tests/test_jupyterlab.py": 150,
    "tests/test_sandbox.py": 60,
}


def work_unit(nodeid: str) -> str:
    """The unit of work that the test ``nodeid`` belongs to (see the module docstring)."""
    module, _, rest = nodeid.partition("::")
    part = SPLIT[module](rest) if module in SPLIT and rest else None
    if part is None:
        return module
    return module + part if part.startswith("[") else f"{module}::{part}"


def make_scheduler(config, log=None):
    """``--dist loadscope`` with ``work_unit`` as its scope, and two choices of its own.

    The collection is sorted longest unit first (``pytest_collection_modifyitems``) and kept in that order.
    A worker runs a test only once it holds the next one, so xdist gives a worker more work while it still holds
    two tests: a worker that starts a unit of one long test (a chapter's autograde) would take the next long unit
    too, and one worker could be handed three of them at once while the other runs out of work. Here a worker
    that holds a long unit (one in ``SECONDS``) gets the shortest unit left (the end of the queue) to go on with;
    one that holds none gets the longest left.
    """
    from xdist.scheduler import LoadScopeScheduling

    class CourseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return work_unit(nodeid)

        def _assign_work_unit(self, node):
            held = self.assigned_work.get(node, {})
            if any(unit in SECONDS and not all(tests.values()) for unit, tests in held.items()):
                self.workqueue.move_to_end(next(reversed(self.workqueue)), last=False)
            super()._assign_work_unit(node)

    config.option.loadscopereorder = False  # xdist would put the units with the most tests first
    return CourseScheduling(config, log)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: without it installed, never called
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") == "loadscope":
        return make_scheduler(config, log)
    return None


def pytest_collection_modifyitems(config, items):
    """In an xdist worker: the longest units first (a stable sort: the tests of a unit keep their order)."""
    if not WORKER:
        return
    first = {}
    for i, item in enumerate(items):
        first.setdefault(work_unit(item.nodeid), i)
    items.sort(key=lambda item: (-SECONDS.get(work_unit(item.nodeid), 0), first[work_unit(item.nodeid)]))


def threads_per_worker() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))


def pytest_configure(config):
    if WORKER:
        torch.set_num_threads(threads_per_worker())


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for the module's tests, restored afterwards.

    The batches in the tests are small: one thread is faster, and two threads on a busy 2-core machine
    spin-wait for each other (20x slower measured). Use it with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
