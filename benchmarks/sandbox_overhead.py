"""What the sandbox adds to autograding one student's chapter 2, side by side with grading without it.

    python benchmarks/sandbox_overhead.py [--rounds 3] [--out benchmarks/out/sandbox_overhead.json]

The same submission (the chapter 2 solution: the whole notebook, training included) is autograded with
``course grade autograde`` as an instructor runs it, alternately with the bubblewrap sandbox and with
``--no-sandbox``, ``--rounds`` times each, in fresh course roots. The table gives each way's median,
minimum and maximum, and the sandbox's cost relative to the median without it (the issue's bound: 10 %).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
# the nbgrader processes that Course starts import this checkout's course_lib too (not an installed one)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)

from course_lib.grading.instructor import Course  # noqa: E402

A = "ch02_cartpole"


def grade_once(sandbox: bool, solution: str) -> float:
    root = tempfile.mkdtemp(prefix="sandbox_overhead_")
    try:
        course = Course(root=root, release=os.path.join(root, "release"), repo=REPO, sandbox=sandbox,
                        log=lambda msg: None)
        course.release(A)
        archive = os.path.join(root, "subs.zip")
        with zipfile.ZipFile(archive, "w") as z:
            z.write(solution, f"student/{A}.ipynb")
        course.collect(A, archive)
        t0 = time.perf_counter()
        rows = course.autograde(A)
        seconds = time.perf_counter() - t0
        assert rows[0]["score"] == rows[0]["max_score"] == 15, rows
        # the same work both ways: every cell of the notebook ran without an error (a cell that fails early, e.g.
        # for want of something the sandbox hides, would make that way look faster)
        import nbformat

        nb = nbformat.read(os.path.join(root, "autograded", "student", A, f"{A}.ipynb"), as_version=4)
        failed = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "code"
                  and any(o.get("output_type") == "error" for o in c.outputs)]
        assert not failed, f"cells failed when graded {'with' if sandbox else 'without'} the sandbox: {failed}"
        return seconds
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=os.path.join(HERE, "out", "sandbox_overhead.json"))
    a = p.parse_args(argv)
    solution = os.path.join(REPO, "tests", "submissions", A, "solution.ipynb")
    times = {"sandbox": [], "no sandbox": []}
    for r in range(a.rounds):
        for way in (("sandbox", "no sandbox") if r % 2 == 0 else ("no sandbox", "sandbox")):
            t = grade_once(way == "sandbox", solution)
            times[way].append(t)
            print(f"round {r + 1}: {way:<10} {t:6.1f} s", flush=True)
    base = statistics.median(times["no sandbox"])
    print(f"\nautograde one {A} solution (training included), {os.cpu_count()} cores, {platform.processor() or platform.machine()}")
    print(f"{'way':<12} {'median s':>9} {'min s':>7} {'max s':>7} {'vs no sandbox':>14}")
    rows = []
    for way, ts in times.items():
        med = statistics.median(ts)
        rows.append({"way": way, "median_s": med, "min_s": min(ts), "max_s": max(ts), "runs": ts,
                     "relative": med / base - 1.0})
        print(f"{way:<12} {med:9.1f} {min(ts):7.1f} {max(ts):7.1f} {100 * (med / base - 1):+13.1f}%")
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"assignment": A, "cpu_count": os.cpu_count(), "machine": platform.platform(), "rows": rows}, f,
                  indent=1)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
