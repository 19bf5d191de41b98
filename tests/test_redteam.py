"""The red-team suite: hostile chapter 2 submissions and honest ones, graded in ONE `course grade autograde` run.

The hostile ones (tests/submissions/redteam.py) come first, the honest ones after, so that anything a hostile
submission leaves behind would hit the honest ones. What must hold (issue 12):

- every hostile submission scores no more than its honest peer; every honest one gets exactly its score;
- every student has a row in the gradebook and in the CSV; malformed ones are reported by name, with why;
- nothing escaped: the grader's loopback server heard nothing, the library and site-packages are unchanged,
  the other students' submissions are unchanged, no process outlives grading;
- the feedback shows no hidden test, whatever the submission printed or raised.
"""
import copy
import csv
import hashlib
import importlib.util
import os
import socket
import subprocess
import sysconfig
import threading
import time
import uuid
import zipfile

import nbformat
import pytest

from course_lib.grading import sandbox as sb
from course_lib.grading.instructor import Course, _hidden_lines, hidden_test_leaks, html_text
from course_lib.grading.sandbox import Limits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBS = os.path.join(ROOT, "tests", "submissions")

if sb.bwrap_path() is None:
    if os.environ.get("COURSE_REQUIRE_SANDBOX"):
        raise RuntimeError("COURSE_REQUIRE_SANDBOX is set but bwrap is not installed (apt-get install bubblewrap)")
    pytest.skip("bubblewrap is not installed", allow_module_level=True)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # one fixture grades 16 notebooks


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(SUBS, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ms, rt = _load("make_submissions"), _load("redteam")
A = "ch02_cartpole"
LIMITS = Limits(wall_s=150, memory_mb=2048, max_procs=128, disk_mb=200)


def _gid(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def build(name, edits, subst):
    """The release with the solution filled in, without training, then ``edits``; str for a non-notebook."""
    nb = ms.build(A, "solution")
    release = nbformat.read(os.path.join(ROOT, "notebooks", A, f"{A}.ipynb"), as_version=4)
    n = 0

    def new_id():
        nonlocal n
        n += 1
        return f"{name}-cell-{n}"

    def index(gid):
        return next(i for i, c in enumerate(nb.cells) if _gid(c) == gid)

    for kind, *args in rt.NO_TRAINING + edits:
        if kind == "drop_cell_containing":
            nb.cells = [c for c in nb.cells if args[0] not in c.source]
        elif kind == "insert_after":
            src = args[1]
            for k, v in subst.items():
                src = src.replace("{" + k + "}", v)
            cell = nbformat.v4.new_code_cell(src)
            cell.id = new_id()
            nb.cells.insert(index(args[0]) + 1, cell)
        elif kind == "replace":
            cell = nb.cells[index(args[0])]
            assert args[1] in cell.source
            cell.source = cell.source.replace(args[1], args[2])
        elif kind == "append":
            nb.cells[index(args[0])].source += "\n" + args[1]
        elif kind == "set_source":
            src = args[1]
            for k, v in subst.items():
                src = src.replace("{" + k + "}", v)
            nb.cells[index(args[0])].source = src
        elif kind == "blank":
            nb.cells[index(args[0])].source = next(c.source for c in release.cells if _gid(c) == args[0])
        elif kind == "duplicate":  # what copy and paste in JupyterLab makes: same metadata, a new cell id
            i = index(args[0])
            dup = copy.deepcopy(nb.cells[i])
            dup.id = new_id()
            nb.cells.insert(i + 1, dup)
        elif kind == "delete":
            nb.cells.pop(index(args[0]))
        elif kind == "to_markdown":
            i = index(args[0])
            old = nb.cells[i]
            md = nbformat.v4.new_markdown_cell(old.source, metadata=copy.deepcopy(old.metadata))
            md.id = old.id
            nb.cells[i] = md
        elif kind == "set_points":
            nb.cells[index(args[0])].metadata.nbgrader["points"] = args[1]
        elif kind == "broken_json":
            return '{"cells": [ this is not a notebook'
        else:
            raise ValueError(kind)
    return nb


def tree_hash(path):
    h = hashlib.sha256()
    for dirpath, dirnames, files in sorted(os.walk(path)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".pyc"):
                continue
            p = os.path.join(dirpath, f)
            h.update(p.encode())
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("redteam")
    course = Course(root=str(root), release=str(root / "release"), repo=ROOT, cell_timeout=60, limits=LIMITS, log=print)
    course.release(A)
    # the grader's loopback: a server that records whatever reaches it
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    heard, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                heard.append(conn.recv(100))
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    token = uuid.uuid4().hex
    site = sysconfig.get_paths()["purelib"]
    secret = tmp_path_factory.mktemp("instructor") / "notes.txt"  # a file of the instructor's, outside the course
    secret.write_text("the answers")
    subst = {"ROOT": str(root), "REPO": ROOT, "SITE": site, "PORT": str(server.getsockname()[1]), "TOKEN": token,
             "SECRET": str(secret)}
    everyone = {**{k: v[:2] for k, v in rt.HOSTILE.items()}, **{k: v[:2] for k, v in rt.BORROWING.items()},
                **rt.HONEST}
    archive = root / "class.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for student, (_, edits) in everyone.items():
            nb = build(student, edits, subst)
            z.writestr(f"{student}/{A}.ipynb", nb if isinstance(nb, str) else nbformat.writes(nb))
    course.collect(A, str(archive))
    honest_files = {s: open(os.path.join(root, "submitted", s, A, f"{A}.ipynb"), "rb").read() for s in rt.HONEST}
    library = tree_hash(os.path.join(ROOT, "course_lib"))
    site_listing = sorted(os.listdir(site))
    t0 = time.perf_counter()
    rows = course.autograde(A)  # ONE run: every student, hostile ones first
    seconds = time.perf_counter() - t0
    time.sleep(1)
    stop.set()
    server.close()
    csv_path = course.export(str(root / "grades.csv"))
    feedback = course.feedback(A)  # one nbgrader run: every autograded notebook
    print(f"red team: {len(everyone)} submissions autograded in {seconds:.0f} s; failures: {course.failures}")
    return {"course": course, "rows": {r["student"]: r for r in rows}, "heard": heard, "token": token,
            "honest_files": honest_files, "library": library, "site": site, "site_listing": site_listing,
            "csv": csv_path, "feedback": feedback, "everyone": everyone, "root": root}


def expected(student):
    return ms.POINTS[A] if student not in rt.HONEST_LOST else \
        {g: (0 if g in rt.HONEST_LOST[student] else p) for g, p in ms.POINTS[A].items()}


def test_every_student_has_a_row_and_the_honest_get_exactly_their_scores(graded):
    rows = graded["rows"]
    assert set(rows) == set(graded["everyone"])
    assert all(r["max_score"] == 15 for r in rows.values())
    for student in rt.HONEST:
        assert rows[student]["cells"] == expected(student), student
    with open(graded["csv"]) as f:
        in_csv = {row["student_id"] for row in csv.DictReader(f) if row["assignment"] == A}
    assert in_csv == set(graded["everyone"])


def test_no_hostile_submission_scores_more_than_its_honest_peer(graded):
    rows = graded["rows"]
    problems = []
    for student, (what, _, peer) in rt.HOSTILE.items():
        if peer is None:  # graded normally: exactly as the honest one with the same code
            if rows[student]["cells"] != expected("z-honest-correct"):
                problems.append(f"{student} ({what}): {rows[student]['cells']}")
        elif peer == "stopped":
            if rows[student]["score"] != 0:
                problems.append(f"{student} ({what}): {rows[student]['score']} points, expected 0")
        elif rows[student]["score"] > rows[peer]["score"]:
            problems.append(f"{student} ({what}): {rows[student]['score']} > {peer}'s {rows[peer]['score']}")
    assert not problems, "\n".join(problems)


def test_malformed_submissions_are_reported_by_name_with_why(graded):
    failures = graded["course"].failures
    stopped = {s for s, v in rt.HOSTILE.items() if v[2] == "stopped"}
    assert set(failures) == stopped, failures
    assert "test_reward_fall" in failures["a-deleted-test"] and "missing" in failures["a-deleted-test"]
    assert "markdown" in failures["a-markdown-test"]
    assert "metadata" in failures["a-points"]
    assert "is not a readable notebook" in failures["a-broken-json"]
    # the student sees why in their feedback too
    nb = nbformat.read(os.path.join(graded["root"], "autograded", "a-deleted-test", A, f"{A}.ipynb"), as_version=4)
    tests = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
    assert tests and all("test cell 'test_reward_fall' is missing" in "".join(o.get("evalue", "") for o in c.outputs)
                         for c in tests)


def test_nothing_escaped_the_sandbox(graded):
    assert graded["heard"] == [], "a submission reached the grader's loopback"
    assert tree_hash(os.path.join(ROOT, "course_lib")) == graded["library"], "the library was changed"
    assert sorted(os.listdir(graded["site"])) == graded["site_listing"], "site-packages was changed"
    assert not os.path.exists(os.path.join(ROOT, "course_lib", "grading", "redteam_planted.py"))
    for s, content in graded["honest_files"].items():
        with open(os.path.join(graded["root"], "submitted", s, A, f"{A}.ipynb"), "rb") as f:
            assert f.read() == content, f"{s}'s submission was changed"
    nb = nbformat.read(os.path.join(graded["root"], "autograded", "a-escape", A, f"{A}.ipynb"), as_version=4)
    report = next(c for c in nb.cells if "Red team: reach out of the sandbox" in c.source)
    text = "".join(o.get("text", "") for o in report.outputs)
    assert text.count("-> failed") == 8 and "SUCCEEDED" not in text, text


def test_nothing_outlives_grading(graded):
    left = subprocess.run(["pgrep", "-f", f"redteam-daemon-{graded['token']}"], capture_output=True, text=True)
    assert left.stdout.split() == []


def test_each_limit_stopped_what_exceeded_it_with_a_clear_message(graded):
    def cells(student):
        nb = nbformat.read(os.path.join(graded["root"], "autograded", student, A, f"{A}.ipynb"), as_version=4)
        return [(c.source, "".join(o.get("text", "") + o.get("evalue", "") for o in c.outputs))
                for c in nb.cells if c.cell_type == "code"]

    limits = cells("a-limits")
    fork = next(out for src, out in limits if "a fork bomb" in src)
    assert "BlockingIOError" in fork or "Resource temporarily unavailable" in fork, fork[-300:]
    flood = next(out for src, out in limits if "flood the grader's output" in src)
    assert len(flood) < 200_000
    memory = next(out for src, out in limits if "take all the memory" in src)
    assert "memory" in memory.lower(), memory[-300:]
    disk = next(out for src, out in limits if "fill the disk" in src)
    assert "200 MiB" in disk, disk[-300:]
    forever = cells("a-forever")
    assert any(f"the notebook's {int(LIMITS.wall_s)} s were used up" in out for _, out in forever), forever[-1]


def test_the_feedback_shows_no_hidden_test(graded):
    hidden = {ln for ln in _hidden_lines([os.path.join(ROOT, "solutions", A, f"{A}.ipynb")])
              if ln and not ln.startswith("#")}
    assert graded["feedback"]
    for path in graded["feedback"]:
        html = open(path, errors="replace").read()
        assert hidden_test_leaks(html, hidden) == [], path
    echo = next(p for p in graded["feedback"] if "a-echo-hidden" in p)
    text = html_text(open(echo, errors="replace").read())
    assert "ECHO" in text  # the hook ran in the kernel; the kernel never had a hidden test to echo
    assert "hidden=True" not in text  # (the hidden seeds: hidden_test_leaks above, read from the solutions)


def test_borrowing_the_reference_task_earns_nothing(graded):
    """Issue 12, point 5 (chapter 2): the reference cart-pole is the instructor's (course_answers), which the sandbox
    cannot see, so a class that borrows its methods has nothing to borrow."""
    rows = graded["rows"]
    for student, (what, _, peer) in rt.BORROWING.items():
        assert rows[student]["score"] <= rows[peer]["score"], f"{student} ({what}): {rows[student]['score']}"
