"""Grading: checks of students' code against the reference, and the instructor's nbgrader workflow.

In a notebook's test cell::

    from course_lib.grading import check
    check("ch02.reward_fall", globals())          # PASS ... or an AssertionError that says what differs

For the instructor (``course grade ...``, see docs/instructors.md)::

    course grade release ch02_cartpole             # solutions/ -> notebooks/ (nbgrader generate_assignment)
    course grade collect ch02_cartpole subs.zip    # a zip of students' notebooks -> submitted/
    course grade autograde ch02_cartpole           # run, grade, re-check outside the kernel
    course grade feedback ch02_cartpole            # HTML feedback without hidden tests
    course grade export grades.csv                 # one row per student and assignment
    course grade package ch02_cartpole             # a zip for students: no solutions, no hidden tests

For a student without the Validate button: ``course check NOTEBOOK.ipynb``.

Modules: :mod:`.core` (checks), :mod:`.ch01`, :mod:`.ch02` (the chapters'
checks and references), :mod:`.isolated` (the checks again, outside the
kernel), :mod:`.evaluate_policy` (a trained policy on the reference task, in
a fresh interpreter), :mod:`.nbgrader_ext` (nbgrader preprocessors),
:mod:`.instructor` and :mod:`.cli` (the workflow), :mod:`.environment` (the
notebooks' first cell), :mod:`.viz` (animations, reward plots).
"""
from __future__ import annotations

import os
import shutil

from .core import Check, CheckFailed, check, get
from .environment import check_environment

__all__ = ["check", "CheckFailed", "Check", "get", "check_environment", "export_policy", "evaluate_on_reference"]


def export_policy(result_or_checkpoint, dest: str = "runs/cartpole_policy.pth") -> str:
    """Copy a training run's final checkpoint to ``dest`` (where the tests look for it); return ``dest``.

    ``result_or_checkpoint``: what :func:`course_lib.train` returned, a run
    directory, or a ``.pth`` file.
    """
    src = getattr(result_or_checkpoint, "checkpoint", result_or_checkpoint)
    from ..rl.policy import resolve_checkpoint

    src = resolve_checkpoint(src)
    if os.path.dirname(dest):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.abspath(src) != os.path.abspath(dest):
        shutil.copyfile(src, dest)
    print(f"Policy saved to {dest}")
    return dest


def evaluate_on_reference(policy, task: str = "cartpole", episodes: int = 500, seed: int = 0):
    """See :func:`course_lib.grading.viz.evaluate_on_reference`."""
    from .viz import evaluate_on_reference as _eval

    return _eval(policy, task, episodes, seed)
