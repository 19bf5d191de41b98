"""``course grade ...`` (the instructor's workflow) and ``course check NOTEBOOK`` (a student's self-check).

    course grade release [ASSIGNMENT ...]          solutions/ -> notebooks/ (nbgrader generate_assignment)
    course grade collect ASSIGNMENT ZIP            a zip of submissions -> <root>/submitted/
    course grade autograde ASSIGNMENT [--student ID ...]
    course grade feedback ASSIGNMENT               HTML feedback, hidden tests removed
    course grade export [CSV]                      grades, one row per student and assignment
    course grade roster CSV                        add students (so the export lists everyone)
    course grade package [ASSIGNMENT ...] [--out ZIP]   a zip for students: no solutions, no hidden tests
    course grade scores ASSIGNMENT                 the gradebook's scores, per test cell

    course check NOTEBOOK.ipynb                    run it, then grade it as the autograder would

Options of ``course grade``: ``--root DIR`` (course root; default the
repository's ``autograder/``), ``--source DIR``, ``--release DIR``,
``--timeout S`` (seconds per cell). Exit status: 0 on success, 1 when a step
failed or (``check``) a test failed, 2 on bad arguments.

Wired into the ``course`` command by course_lib/cli.py; standalone:
``python -m course_lib.grading.cli grade ...``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

__all__ = ["main", "check_notebook"]


def _grade_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="course grade", description="The instructor's nbgrader workflow (see "
                                "docs/instructors.md).")
    p.add_argument("--root", metavar="DIR", help="course root (default: the repository's autograder/)")
    p.add_argument("--source", metavar="DIR", help="source notebooks (default: solutions/)")
    p.add_argument("--release", metavar="DIR", help="student notebooks (default: notebooks/)")
    p.add_argument("--timeout", type=int, metavar="S", help="seconds one cell may run (default 300)")
    sub = p.add_subparsers(dest="step", metavar="STEP", required=True)
    r = sub.add_parser("release", help="generate the student notebooks from the solutions")
    r.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    c = sub.add_parser("collect", help="unpack a zip of submissions")
    c.add_argument("assignment")
    c.add_argument("zip")
    a = sub.add_parser("autograde", help="run and grade the submissions")
    a.add_argument("assignment")
    a.add_argument("--student", action="append", metavar="ID", help="only this student (repeatable; one may be "
                   "a glob such as 'group1-*')")
    a.add_argument("--no-sandbox", action="store_true", help="run students' code without bubblewrap (UNSAFE: it "
                   "then runs with your permissions, next to the gradebook; limits still apply where setrlimit can)")
    a.add_argument("--notebook-timeout", type=int, metavar="S", help="seconds for a whole notebook (default 1800)")
    a.add_argument("--memory", type=int, metavar="MIB", help="memory for one submission's sandbox (default 8192)")
    a.add_argument("--max-procs", type=int, metavar="N", help="processes and threads at once (default 512)")
    a.add_argument("--disk", type=int, metavar="MIB", help="what a submission's folder may hold (default 2048)")
    f = sub.add_parser("feedback", help="HTML feedback without hidden tests")
    f.add_argument("assignment")
    f.add_argument("--student", action="append", metavar="ID")
    e = sub.add_parser("export", help="grades to CSV")
    e.add_argument("csv", nargs="?", default="grades.csv")
    ro = sub.add_parser("roster", help="add the students of a roster CSV (column id; first_name, last_name, email)")
    ro.add_argument("csv")
    pk = sub.add_parser("package", help="a zip of the student notebooks, without solutions or hidden tests")
    pk.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    pk.add_argument("--out", default="dist/course_students.zip", metavar="ZIP")
    s = sub.add_parser("scores", help="print the gradebook's scores of an assignment")
    s.add_argument("assignment")
    return p


def _print_scores(rows, out=sys.stdout) -> None:
    if not rows:
        print("no submissions graded yet", file=out)
        return
    cells = sorted({k for r in rows for k in r["cells"]})
    width = max(8, *(len(r["student"]) for r in rows))
    print(f"{'student':<{width}}  {'score':>9}  " + "  ".join(cells), file=out)
    for r in rows:
        per = "  ".join(f"{r['cells'].get(k, float('nan')):>{len(k)}g}" for k in cells)
        print(f"{r['student']:<{width}}  {r['score']:>4g}/{r['max_score']:<4g}  {per}", file=out)


def grade_main(argv) -> int:
    from .instructor import Course, GradingError

    try:
        a = _grade_parser().parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        sandbox, limits = True, None
        if a.step == "autograde":
            from .sandbox import Limits

            sandbox = not a.no_sandbox
            d = Limits()
            limits = Limits(wall_s=a.notebook_timeout or d.wall_s, memory_mb=a.memory or d.memory_mb,
                            max_procs=a.max_procs or d.max_procs, disk_mb=a.disk or d.disk_mb)
            if not sandbox:
                print("WARNING: --no-sandbox: students' code runs with your permissions, can read and change the "
                      "gradebook, the reference solutions and other students' files, and reach the network. Use it "
                      "only for submissions you trust.", file=sys.stderr)
        course = Course(root=a.root, source=a.source, release=a.release, cell_timeout=a.timeout, sandbox=sandbox,
                        limits=limits)
        if a.step == "release":
            for name in a.assignments or course.assignments():
                course.release(name)
        elif a.step == "collect":
            course.collect(a.assignment, a.zip)
        elif a.step == "autograde":
            t0 = time.perf_counter()
            who = a.student[0] if a.student and len(a.student) == 1 else a.student
            rows = course.autograde(a.assignment, who)
            print(f"autograded {len(rows)} submission(s) of {a.assignment} in {time.perf_counter() - t0:.0f} s "
                  f"({'each in its own bubblewrap sandbox' if sandbox else 'WITHOUT a sandbox'})")
            _print_scores(rows)
            if course.failures:
                print(f"\ngrading failed for {len(course.failures)} student(s) (scored 0; fix and autograde them "
                      f"again with --student ID):")
                for student, why in sorted(course.failures.items()):
                    print(f"  {student}: {why}")
        elif a.step == "feedback":
            course.feedback(a.assignment, a.student)
        elif a.step == "export":
            course.export(a.csv)
        elif a.step == "roster":
            print(f"{len(course.add_students(a.csv))} student(s) in the gradebook")
        elif a.step == "package":
            course.package(a.assignments or None, a.out)
        elif a.step == "scores":
            _print_scores(course.scores(a.assignment))
    except GradingError as e:
        print(f"course grade {a.step}: {e}", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------ course check
def check_notebook(path: str, timeout: int = 300, execute: bool = True, out=None) -> dict:
    """Run a notebook (in its folder, with the course's kernel), then grade it as the autograder does.

    The notebook file is not modified. Returns ``{"score", "max_score", "tests": [...]}``.
    """
    import nbformat
    from nbgrader.utils import compute_checksum, determine_grade, is_grade

    from .isolated import recheck
    from .kernel import KERNEL_NAME, kernel_installed
    from .nbgrader_ext import QuietStderr, apply_verdict

    out = out if out is not None else sys.stdout
    nb = nbformat.read(path, as_version=4)
    folder = os.path.dirname(os.path.abspath(path))
    edited = [c for c in nb.cells if is_grade(c) and "checksum" in c.metadata.get("nbgrader", {})
              and c.cell_type == "code" and compute_checksum(c) != c.metadata.nbgrader["checksum"]]
    for c in edited:
        print(f"warning: you edited the test cell {c.metadata.nbgrader.get('grade_id')!r}; the grader runs the "
              f"original", file=out)
    if execute:
        from nbclient import NotebookClient

        for c in nb.cells:
            if c.cell_type == "code":
                c.outputs, c.execution_count = [], None
        kernel = KERNEL_NAME if kernel_installed() else None
        code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        print(f"running {path}: {len(code)} code cells ({'kernel ' + kernel if kernel else 'kernel from the notebook'}"
              f"; up to {timeout} s per cell)...", file=out, flush=True)
        t0 = time.perf_counter()

        def progress(cell, cell_index, **_):  # one line per cell, as it starts: the student sees where it is
            if cell_index not in code:
                return
            first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
            n = code.index(cell_index) + 1
            print(f"  cell {n:>{len(str(len(code)))}}/{len(code)}  {time.perf_counter() - t0:4.0f} s  "
                  f"{first[:70].rstrip()}", file=out, flush=True)

        client = NotebookClient(nb, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
                                kernel_name=kernel or nb.metadata.get("kernelspec", {}).get("name", "python3"),
                                resources={"metadata": {"path": folder}}, on_cell_execute=progress,
                                # the kernel's own log (e.g. "Kernel is running over TCP without encryption", a
                                # local kernel on 127.0.0.1) is not for students; its errors still show
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # jupyter_client/zmq deprecations, not the student's
            client.execute()
        print(f"ran in {time.perf_counter() - t0:.0f} s; grading outside the kernel...", file=out, flush=True)
    result = recheck(nb, folder)
    quiet = QuietStderr()
    tests, score, max_score = [], 0.0, 0.0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not is_grade(cell):
            continue
        v = result.cell_verdict(i) if result is not None else None
        if v is not None:
            apply_verdict(cell, v[0], v[1])
        quiet.preprocess_cell(cell, {}, i)
        got, pts = determine_grade(cell)
        got = 0.0 if got is None else float(got)
        first = next((ln for ln in cell.source.splitlines() if ln.strip()), "").lstrip("# ").replace("Test: ", "")
        errors = [o.get("evalue", "") for o in cell.outputs if o.get("output_type") == "error"]
        tests.append({"grade_id": cell.metadata.nbgrader.get("grade_id"), "test": first, "score": got,
                      "points": pts, "errors": errors})
        score, max_score = score + got, max_score + pts
        mark = "PASS" if got >= pts else "FAIL"
        print(f"{mark} {got:g}/{pts:g}  {first}", file=out)
        for err in errors:
            for line in err.splitlines()[:6]:
                print(f"       {line[:300]}", file=out)
    print(f"Score: {score:g}/{max_score:g}", file=out)
    return {"score": score, "max_score": max_score, "tests": tests}


def check_main(argv) -> int:
    p = argparse.ArgumentParser(prog="course check", description="Run a chapter notebook and grade it as the "
                                "autograder would (for those without nbgrader's Validate button). The notebook "
                                "file is not changed.")
    p.add_argument("notebook")
    p.add_argument("--timeout", type=int, default=300, metavar="S", help="seconds one cell may run (default 300)")
    p.add_argument("--no-execute", action="store_true", help="grade the outputs already in the notebook's folder "
                   "(e.g. runs/cartpole_policy.pth) without running it again")
    try:
        a = p.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if not os.path.isfile(a.notebook):
        print(f"course check: no such notebook: {a.notebook}", file=sys.stderr)
        return 2
    r = check_notebook(a.notebook, timeout=a.timeout, execute=not a.no_execute)
    return 0 if r["score"] >= r["max_score"] else 1


def main(argv=None) -> int:
    """``main(["grade", ...])`` or ``main(["check", NOTEBOOK])``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["grade"]:
        return grade_main(argv[1:])
    if argv[:1] == ["check"]:
        return check_main(argv[1:])
    print("usage: course grade STEP ... | course check NOTEBOOK (see --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
