"""The instructor's reference implementations, where this machine has them.

The answers to graded exercises (today chapter 2's reference cart-pole) are not in ``course_lib``: they are the
package ``course_answers``, which lives in the course's repository beside ``course_lib`` and is never installed
for students. This module finds it in one place only: the ``course_answers`` folder beside this package's folder
(a checkout of the repository, installed editable), or the package already imported from there (the tests). It
never searches ``sys.path``: a folder named ``course_answers`` in a submission (the kernel's working directory)
is not taken for the instructor's.

A student's environment and the grading sandbox (which binds ``course_lib``'s folder alone) have none, and
:func:`load` returns None there: reference tasks are then unknown to :func:`course_lib.make`, and checks compare
visible cases with stored values (:mod:`course_lib.grading.reference`).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys

__all__ = ["PACKAGE", "load", "available", "reference_tasks", "INSTRUCTOR_TASKS"]

PACKAGE = "course_answers"

#: reference tasks that are an exercise's answer: name -> (the class a student writes, what to use instead)
INSTRUCTOR_TASKS = {
    "cartpole": ("CartpoleTask", "writing it is chapter 2's exercise: pass your own class, e.g. "
                 "course_lib.train(CartpoleTask, ...), course_lib.evaluate(CartpoleTask({'num_envs': 500}), policy)"),
}


def _find():
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    beside = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), PACKAGE, "__init__.py")
    if os.path.isfile(beside):
        # a checkout: load the folder beside course_lib (sys.path is left as it is)
        spec = importlib.util.spec_from_file_location(PACKAGE, beside,
                                                      submodule_search_locations=[os.path.dirname(beside)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[PACKAGE]
            raise
        return module
    return None


def load(module: str | None = None):
    """``course_answers`` (or its submodule ``module``), or None where this machine does not have it."""
    pkg = _find()
    if pkg is None or module is None:
        return pkg
    return importlib.import_module(f"{PACKAGE}.{module}")


def available() -> bool:
    return _find() is not None


def reference_tasks() -> dict:
    """name -> reference task class, for the reference tasks this machine has ({} on a student's)."""
    pkg = _find()
    return dict(getattr(pkg, "TASKS", {})) if pkg is not None else {}
