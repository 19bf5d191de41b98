"""Store what the reference computes for the visible test cells' cases, for machines without the reference.

    python -m course_answers.store_expected            # writes course_lib/grading/expected/<chNN>.pt

For each chapter in :data:`CHAPTERS`, every check call in the *student* notebook's test cells (the visible ones:
the release holds no hidden case) is expanded into its cases, and each expected value its judge reads
(``Check.expects``) is computed by the reference and kept under the cases' digest
(:func:`course_lib.grading.reference.case_key`). Run it after changing a reference, a check's cases or a visible
test cell; ``tests/test_answers.py`` fails while the stored values are stale.
"""
from __future__ import annotations

import os
import sys

import nbformat
import torch

from course_lib.grading.core import get
from course_lib.grading.isolated import find_checks
from course_lib.grading.reference import recording, stored_path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: the chapters whose references are here (and whose checks read expected values through ``expected``)
CHAPTERS = ("ch02_cartpole", "ch04_reward_shaping", "ch06_evaluate_deploy")


def visible_calls(assignment: str) -> list:
    """(check name, params with defaults) of every check call in the student notebook's test cells."""
    nb = nbformat.read(os.path.join(REPO, "notebooks", assignment, f"{assignment}.ipynb"), as_version=4)
    calls = []
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            for name, params in find_checks(cell.source):
                calls.append((name, {**get(name).defaults, **params}))
    return calls


def compute(assignment: str) -> dict:
    """key -> expected value, for every visible case of ``assignment`` (computed now, by the reference)."""
    torch.set_num_threads(1)
    with recording() as values:
        for name, params in visible_calls(assignment):
            chk = get(name)
            if params.get("hidden"):
                raise ValueError(f"{assignment}: a hidden check call in the student notebook ({name})")
            cases = chk.cases(**params)
            for fn in chk.expects:
                fn(cases)
        return dict(values)


def main() -> int:
    for a in CHAPTERS:
        values = compute(a)
        path = stored_path(a)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.save(values, path)
        print(f"{a}: {len(values)} expected value(s) for the visible cases -> {os.path.relpath(path, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
