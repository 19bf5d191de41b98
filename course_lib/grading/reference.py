"""Where a judge's expected values come from: the reference, or, on a student's machine, stored values.

The reference implementations of graded exercises are the instructor's (:mod:`course_lib.answers`). A judge asks
for each expected value through :func:`expected`, naming the computation and the cases:

- where the instructor's package is here (the grader's judge, the tests, a checkout of the repository), the
  reference computes it;
- elsewhere (a student's machine, the grading sandbox), the value is read from ``expected/<chNN>.pt``, which holds
  what the reference computed for the cases of the *visible* test cells (the calls in the student notebooks), keyed
  by a digest of the cases. Hidden cases are never stored: they are judged where the reference is.

``python -m course_answers.store_expected`` writes the files; a test recomputes them and fails when they are stale.
"""
from __future__ import annotations

import hashlib
import os
from typing import Callable

import torch

from .core import CheckFailed

__all__ = ["expected", "case_key", "stored_path", "recording", "StoredValueMissing"]

HERE = os.path.dirname(os.path.abspath(__file__))

_RECORD: dict | None = None  # while recording: key -> value, for store_expected
_TABLES: dict = {}  # assignment -> {key: value}, read once


class StoredValueMissing(CheckFailed):
    """No reference on this machine, and no stored value for these cases."""


def stored_path(assignment: str) -> str:
    return os.path.join(HERE, "expected", f"{assignment[:4]}.pt")


def _digest(h, value) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    elif isinstance(value, dict):
        for k in sorted(value):
            h.update(f"K{k}".encode())
            _digest(h, value[k])
    elif isinstance(value, (list, tuple)):
        h.update(f"L{len(value)}".encode())
        for v in value:
            _digest(h, v)
    else:
        h.update(f"V{value!r}".encode())


def case_key(what: str, cases: dict) -> str:
    """``what`` (e.g. "ch02.reward") and a digest of every input in ``cases``."""
    h = hashlib.sha256(what.encode())
    _digest(h, cases)
    return f"{what}:{h.hexdigest()[:32]}"


def _table(assignment: str) -> dict:
    if assignment not in _TABLES:
        path = stored_path(assignment)
        _TABLES[assignment] = torch.load(path, weights_only=True) if os.path.exists(path) else {}
    return _TABLES[assignment]


class recording:
    """``with recording() as values:`` every value :func:`expected` computes is kept in ``values`` (key -> value)."""

    def __enter__(self) -> dict:
        global _RECORD
        _RECORD = {}
        return _RECORD

    def __exit__(self, *exc) -> None:
        global _RECORD
        _RECORD = None


def expected(what: str, cases: dict, compute: Callable):
    """The expected value ``what`` for ``cases``: ``compute(answers)`` with the instructor's package ``answers``
    where it is here, else the stored value (visible cases), else :class:`StoredValueMissing`."""
    from .. import answers

    pkg = answers.load()
    key = case_key(what, cases)
    if pkg is not None:
        value = compute(pkg)
        if _RECORD is not None:
            _RECORD[key] = value
        return value
    table = _table(what.split(".", 1)[0])
    if key in table:
        return table[key]
    raise StoredValueMissing(
        "these cases are checked against the reference implementation, which is your instructor's and is not on "
        "this machine: the visible test cells' own cases are, so run this test with the cell's own arguments; "
        "other cases are checked when your notebook is graded")
