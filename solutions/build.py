"""Build the nbgrader source notebooks from readable Python files.

    python solutions/build.py            # solutions/src/<assignment>.py -> solutions/<assignment>/<assignment>.ipynb
    python solutions/build.py --check    # exit 1 if a committed notebook differs from its source

The source is a Python file in the "percent" format (as jupytext and VS Code
read it). A line ``# %%`` starts a cell; words after it say what nbgrader
makes of it:

    # %% [markdown]                    a text cell (its lines lose their leading "# ")
    # %% id=imports locked             read-only for students
    # %% id=reward solution            the student's cell: ### BEGIN/END SOLUTION regions are cleared
    # %% id=test_reward tests points=2 an autograded test cell (### BEGIN/END HIDDEN TESTS are removed
    #                                  from the release, kept for grading)
    # %%                               an ordinary cell that students may edit

Then release the student version with ``course grade release`` (nbgrader
generate_assignment), never by hand. Outputs are always empty here.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")

KERNELSPEC = {"display_name": "Python 3 (GPU RL course)", "language": "python", "name": "gpu-rl-course"}
LANGUAGE_INFO = {"name": "python", "file_extension": ".py", "mimetype": "text/x-python",
                 "nbconvert_exporter": "python", "pygments_lexer": "ipython3",
                 "codemirror_mode": {"name": "ipython", "version": 3}}

HEADER = re.compile(r"^# %%(.*)$")


def _lines(text: str) -> list:
    """nbformat stores sources as a list of lines, each with its newline but the last."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def parse(path: str, assignment: str) -> dict:
    with open(path) as f:
        text = f.read()
    cells, current = [], None
    for line in text.split("\n"):
        m = HEADER.match(line)
        if m:
            if current is not None:
                cells.append(current)
            words = m.group(1).split()
            current = {"words": words, "body": []}
            continue
        if current is None:
            if line.strip() and not line.startswith("#"):
                raise ValueError(f"{path}: code before the first '# %%'")
            continue
        current["body"].append(line)
    if current is not None:
        cells.append(current)

    out, seen = [], set()
    for k, c in enumerate(cells):
        words = c["words"]
        markdown = "[markdown]" in words
        opts = {w.split("=", 1)[0]: (w.split("=", 1)[1] if "=" in w else True) for w in words if w != "[markdown]"}
        body = c["body"]
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        if markdown:
            body = [re.sub(r"^# ?", "", ln) for ln in body]
        source = "\n".join(body)
        cid = opts.get("id") or f"{assignment}-{k:02d}"
        if cid in seen:
            raise ValueError(f"{path}: cell id {cid!r} used twice")
        seen.add(cid)
        cell = {"cell_type": "markdown" if markdown else "code", "id": cid, "metadata": {}, "source": _lines(source)}
        if not markdown:
            cell["execution_count"] = None
            cell["outputs"] = []
        kind = next((w for w in ("solution", "tests", "locked", "task") if opts.get(w)), None)
        if kind is not None:
            if "id" not in opts:
                raise ValueError(f"{path}: an nbgrader cell needs an id= (cell {k})")
            nbg = {"grade": kind == "tests", "grade_id": cid, "locked": kind in ("tests", "locked"),
                   "schema_version": 3, "solution": kind == "solution", "task": False}
            if kind == "tests":
                nbg["points"] = int(opts.get("points", 1))
            cell["metadata"]["nbgrader"] = nbg
            if kind == "tests" and not source.lstrip().startswith("# Test:"):
                raise ValueError(f"{path}: test cell {cid!r} must start with a '# Test: <behaviour>' line")
        out.append(cell)
    return {"cells": out, "metadata": {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO},
            "nbformat": 4, "nbformat_minor": 5}


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def assignments() -> list:
    return sorted(f[:-3] for f in os.listdir(SRC) if f.endswith(".py") and not f.startswith("_"))


def target(assignment: str) -> str:
    return os.path.join(HERE, assignment, f"{assignment}.ipynb")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("assignments", nargs="*", help=f"default: all ({', '.join(assignments())})")
    p.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    a = p.parse_args(argv)
    stale = []
    for name in a.assignments or assignments():
        text = dumps(parse(os.path.join(SRC, f"{name}.py"), name))
        path = target(name)
        old = open(path).read() if os.path.exists(path) else None
        if a.check:
            if old != text:
                stale.append(path)
            continue
        if old != text:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(path)}")
        else:
            print(f"{os.path.relpath(path)} is up to date")
    if stale:
        print("out of date (run python solutions/build.py): " + ", ".join(os.path.relpath(s) for s in stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
