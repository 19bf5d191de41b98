"""The budgets of the issues, measured: each solution notebook top to bottom, and one student's autograde.

    python benchmarks/notebook_budgets.py                                # every chapter, once
    python benchmarks/notebook_budgets.py --assignments ch05_domain_randomization ch06_evaluate_deploy
    python benchmarks/notebook_budgets.py --autograde ch02_cartpole ch06_evaluate_deploy --repeats 3

Top to bottom: ``solutions/<assignment>/<assignment>.ipynb`` executed by
nbclient with the course's kernel in a scratch folder, as a student's Run All
(a fresh ``runs/``: every training runs). Autograde: the fixture
``tests/submissions/<assignment>/solution.ipynb`` collected into a scratch
course root and graded by ``course grade autograde`` (nbgrader's execution,
the re-check of every test outside the kernel, the gradebook), as an
instructor's run for one student.

The budget is the issue's: 5 minutes for chapters 1-2, 10 minutes for
chapters 3-6 (their notebooks train reach policies). Prints a table with the
load average beside each row (the machine is often shared) and writes
``benchmarks/out/notebook_budgets.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ in (None, ""):
    sys.path.insert(0, ROOT)

from benchmarks import _calibration as cal  # noqa: E402
from course_lib.grading.instructor import ASSIGNMENTS  # noqa: E402

#: seconds the issues allow, per assignment (top to bottom, and one autograde)
BUDGET_S = {"ch01_setup": 300, "ch02_cartpole": 300}
DEFAULT_BUDGET_S = 600


def run_notebook(assignment: str, tmp: str) -> dict:
    import nbformat
    from nbclient import NotebookClient

    from course_lib.grading.kernel import KERNEL_NAME

    d = tempfile.mkdtemp(dir=tmp)
    path = shutil.copy(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"), d)
    nb = nbformat.read(path, as_version=4)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name=KERNEL_NAME, allow_errors=True,
                   resources={"metadata": {"path": d}}).execute()
    secs = time.perf_counter() - t0
    errors = sum(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    return {"assignment": assignment, "what": "solution notebook, top to bottom", "seconds": round(secs, 1),
            "errors": errors, "load": [round(load0, 1), round(os.getloadavg()[0], 1)],
            "training_cells": training_cells(nb)}


#: a code cell that trains: it calls one of these
TRAINING_CALLS = ("course_lib.train(", "train_or_reuse(", "train_and_save(")
TRAINING_CELL_BUDGET_S = 90  # issue 13: every training cell within 90 s for the median seed on 2 cores


def training_cells(nb) -> list:
    """[{"cell": index, "call": the cell's first training line, "seconds": its execution}] from nbclient's timing
    metadata (``execution``: ``iopub.execute_input`` to ``shell.execute_reply``)."""
    import datetime

    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        lines = [ln.strip() for ln in c.source.splitlines()
                 if any(t in ln for t in TRAINING_CALLS) and not ln.lstrip().startswith(("def ", "#"))]
        ex = c.metadata.get("execution", {})
        if not lines or "iopub.execute_input" not in ex or "shell.execute_reply" not in ex:
            continue
        t = [datetime.datetime.fromisoformat(ex[k].replace("Z", "+00:00"))
             for k in ("iopub.execute_input", "shell.execute_reply")]
        out.append({"cell": i, "call": lines[0][:90], "seconds": round((t[1] - t[0]).total_seconds(), 1)})
    return out


def autograde_one(assignment: str, tmp: str) -> dict:
    from course_lib.grading.instructor import Course

    root = tempfile.mkdtemp(dir=tmp)
    course = Course(root=root, release=os.path.join(root, "release"), repo=ROOT, log=lambda m: None)
    course.release(assignment)
    z = os.path.join(root, "subs.zip")
    with zipfile.ZipFile(z, "w") as f:
        f.write(os.path.join(ROOT, "tests", "submissions", assignment, "solution.ipynb"),
                f"student/{assignment}.ipynb")
    course.collect(assignment, z)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    scores = course.autograde(assignment)
    secs = time.perf_counter() - t0
    return {"assignment": assignment, "what": "autograde one student (the solution)", "seconds": round(secs, 1),
            "score": f"{scores[0]['score']:g}/{scores[0]['max_score']:g}",
            "load": [round(load0, 1), round(os.getloadavg()[0], 1)]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assignments", nargs="*", default=list(ASSIGNMENTS), help="notebooks run top to bottom")
    p.add_argument("--autograde", nargs="*", default=list(ASSIGNMENTS), help="assignments autograded (one student)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "out", "notebook_budgets.json"))
    a = p.parse_args(argv)
    for name in set(a.assignments) | set(a.autograde):
        if name not in ASSIGNMENTS:
            p.error(f"unknown assignment {name!r}; the course has {', '.join(ASSIGNMENTS)}")
    from course_lib.grading.kernel import kernel_installed, write_kernelspec

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    machine = cal.machine_info()
    t_all = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="budget_") as tmp:
        if not kernel_installed():
            write_kernelspec(os.path.join(tmp, "jp"))
            os.environ["JUPYTER_PATH"] = os.path.join(tmp, "jp")
        for _ in range(a.repeats):
            for name in a.assignments:
                rows.append(run_notebook(name, tmp))
                print(f"{name}: top to bottom in {rows[-1]['seconds']:.1f} s ({rows[-1]['errors']} errors)", flush=True)
                for tc in rows[-1]["training_cells"]:
                    print(f"  training cell {tc['cell']}: {tc['seconds']:.1f} s  ({tc['call']})", flush=True)
            for name in a.autograde:
                rows.append(autograde_one(name, tmp))
                print(f"{name}: autograde of one student {rows[-1]['seconds']:.1f} s, score {rows[-1]['score']}",
                      flush=True)
    machine = cal.finish_machine(machine, t_all)
    cal.write_json(a.out, machine, rows)
    md = [f"### Notebook and grading budgets ({machine['date'][:10]}, {machine['cpu_count']} CPU cores, no GPU)", "",
          "| assignment | what | seconds | budget | load average (start, end) | result |",
          "|---|---|---:|---:|---|---|"]
    for r in rows:
        budget = BUDGET_S.get(r["assignment"], DEFAULT_BUDGET_S)
        result = r.get("score") or f"{r['errors']} cell errors"
        md.append(f"| {r['assignment']} | {r['what']} | {r['seconds']:.0f} | {budget} | {r['load'][0]}, "
                  f"{r['load'][1]} | {result}{'' if r['seconds'] <= budget else ' (OVER BUDGET)'} |")
    cells = [(r["assignment"], tc) for r in rows for tc in r.get("training_cells", [])]
    if cells:
        md += ["", f"Training cells (each within {TRAINING_CELL_BUDGET_S} s on 2 cores for the median seed; "
                   f"the notebooks train seed 0):", "", "| assignment | cell | training call | seconds |",
               "|---|---:|---|---:|"]
        md += [f"| {name} | {tc['cell']} | `{tc['call']}` | {tc['seconds']:.1f}"
               f"{' (over)' if tc['seconds'] > TRAINING_CELL_BUDGET_S else ''} |" for name, tc in cells]
    md += cal.footer(machine, a.out)
    cal.write_markdown(a.out, md)
    over = [r for r in rows if r["seconds"] > BUDGET_S.get(r["assignment"], DEFAULT_BUDGET_S)]
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
