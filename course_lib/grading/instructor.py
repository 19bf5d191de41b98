"""The instructor's workflow around nbgrader: release, collect, autograde, feedback, export, package.

Every step is an nbgrader command run with the course's configuration
(``autograder/nbgrader_config.py``), in a course root that is
``autograder/`` by default. ``course grade ...`` (see :mod:`.cli`) calls these
functions; so can a script::

    from course_lib.grading.instructor import Course
    course = Course()                              # the repository's autograder/, solutions/, notebooks/
    course.release("ch02_cartpole")
    course.collect("ch02_cartpole", "submissions.zip")
    course.autograde("ch02_cartpole")
    course.feedback("ch02_cartpole")
    course.export("grades.csv")
    course.package(["ch01_setup", "ch02_cartpole"], "dist/students.zip")
"""
from __future__ import annotations

import csv
import datetime
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

__all__ = ["Course", "GradingError", "find_repo", "secret_lines", "find_leaks", "hidden_test_leaks", "html_text",
           "ASSIGNMENTS"]

#: the course's assignments, in order
ASSIGNMENTS = ["ch01_setup", "ch02_cartpole", "ch03_franka_reach", "ch04_reward_shaping", "ch05_domain_randomization",
               "ch06_evaluate_deploy"]

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")


class GradingError(RuntimeError):
    """A step of the workflow failed; the message says which and why."""


def find_repo(start: str | None = None) -> str | None:
    """The course repository: the first folder, from ``start`` (cwd) upwards, then course_lib's parent,
    that holds ``autograder/nbgrader_config.py``."""
    candidates = []
    d = os.path.abspath(start or os.getcwd())
    while True:
        candidates.append(d)
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    candidates.append(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    for c in candidates:
        if os.path.isfile(os.path.join(c, "autograder", "nbgrader_config.py")):
            return c
    return None


# ------------------------------------------------------------------ leaks
def _regions(source: str, begin: str, end: str):
    inside, lines, outside = False, [], []
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line)
        else:
            outside.append(line)
    return lines, outside


def secret_lines(source_notebooks) -> set:
    """Lines of solution and hidden-test regions that appear nowhere else in the source notebooks.

    A student-visible file that contains one of them (stripped, 12+ characters) leaks a solution or a
    hidden test.
    """
    import nbformat

    secret, public = set(), set()
    for path in source_notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            src = cell.source
            sol, rest = _regions(src, SOLUTION_BEGIN, SOLUTION_END)
            hid, rest = _regions("\n".join(rest), HIDDEN_BEGIN, HIDDEN_END)
            secret.update(ln.strip() for ln in sol + hid)
            public.update(ln.strip() for ln in rest)
    public_text = "\n".join(public)
    return {s for s in secret - public if len(s) >= 12 and not s.startswith("#") and s not in public_text}


def find_leaks(texts: dict, secrets: set) -> list:
    """``texts``: {name: text}. Returns ``[(name, what), ...]`` for every leak found."""
    leaks = []
    for name, text in texts.items():
        for marker in (SOLUTION_BEGIN, SOLUTION_END, HIDDEN_BEGIN, HIDDEN_END):
            if marker in text:
                leaks.append((name, marker))
        lines = {ln.strip() for ln in text.replace("\\n", "\n").split("\n")}
        for s in sorted(secrets):
            if s in lines or (len(s) >= 30 and any(s in ln for ln in lines)):
                leaks.append((name, s))
    return leaks


def html_text(html: str) -> str:
    """What a reader of an HTML page sees: no tags, no styles or scripts, entities decoded (code in nbconvert's
    HTML is split into highlighting spans, so a raw search would miss a quoted line)."""
    import html as _html

    html = re.sub(r"(?is)<(style|script)\b.*?</\1>", "", html)
    html = re.sub(r"(?s)<[^>]+>", "", html)
    return _html.unescape(html)


def hidden_test_leaks(html: str, hidden_lines) -> list:
    """Hidden-test lines (and their seeds) that a feedback page shows."""
    text = html_text(html)
    lines = {ln.strip() for ln in text.splitlines()}
    found = [ln for ln in hidden_lines if ln and (ln in lines or (len(ln) >= 20 and ln in text))]
    for ln in hidden_lines:
        for seed in re.findall(r"seed=(\d{3,})", ln):
            if re.search(rf"seed\s*=\s*{seed}\b", text):
                found.append(f"seed={seed}")
    if "HIDDEN TESTS" in text:
        found.append("HIDDEN TESTS")
    return found


def _notebook_texts(path: str) -> str:
    """A notebook's cell sources, one per line, as a student would see them."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells)


# ------------------------------------------------------------------ the course
class Course:
    """An nbgrader course root with the course's configuration.

    root: where submissions, autograded copies, feedback and ``gradebook.db``
    go (default ``<repo>/autograder``). source / release: the solutions and the
    student notebooks (default ``<repo>/solutions`` and ``<repo>/notebooks``).
    cell_timeout: seconds one notebook cell may run (default: the config's, 300).
    sandbox: run each submission's code in its own bubblewrap sandbox (default; False is ``--no-sandbox``).
    limits: a :class:`course_lib.grading.sandbox.Limits` (default: the config's).
    """

    def __init__(self, root: str | None = None, source: str | None = None, release: str | None = None,
                 repo: str | None = None, cell_timeout: int | None = None, log=None, sandbox: bool = True,
                 limits=None):
        self.repo = repo or find_repo()
        if self.repo is None:
            raise GradingError("no course repository found (a folder with autograder/nbgrader_config.py): run "
                               "`course grade` from the course's repository")
        self.config_dir = os.path.join(self.repo, "autograder")
        self.root = os.path.abspath(root or self.config_dir)
        self.source = os.path.abspath(source or os.path.join(self.repo, "solutions"))
        self.release_dir = os.path.abspath(release or os.path.join(self.repo, "notebooks"))
        self.cell_timeout = cell_timeout
        self.log = log or (lambda msg: print(msg, flush=True))
        self.sandbox = sandbox
        self.limits = limits
        #: why a student's grading failed, by student id, from the last :meth:`autograde`
        self.failures: dict = {}
        os.makedirs(self.root, exist_ok=True)
        # nbgrader's Gradebook runs `alembic` (its migrations) from PATH, in this process too
        bindir = os.path.dirname(sys.executable)
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", os.defpath)

    # -------------------------------------------------------------- running nbgrader
    def env(self) -> dict:
        from .kernel import kernel_installed, write_kernelspec

        env = dict(os.environ, COURSE_GRADING_ROOT=self.root, COURSE_SOURCE_DIR=self.source,
                   COURSE_RELEASE_DIR=self.release_dir, PYTHONUNBUFFERED="1")
        # nbgrader runs `alembic` (its gradebook migrations) from PATH: this environment's bin/ first, also
        # when the environment is not activated (make runs .venv/bin/python)
        bindir = os.path.dirname(sys.executable)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", os.defpath)
        if self.cell_timeout:
            env["COURSE_CELL_TIMEOUT"] = str(int(self.cell_timeout))
        env["COURSE_SANDBOX"] = "bwrap" if self.sandbox else "off"
        if self.limits is not None:
            env["COURSE_NOTEBOOK_TIMEOUT"] = str(int(self.limits.wall_s))
            env["COURSE_SANDBOX_MEMORY_MB"] = str(int(self.limits.memory_mb))
            env["COURSE_SANDBOX_PROCS"] = str(int(self.limits.max_procs))
            env["COURSE_SANDBOX_DISK_MB"] = str(int(self.limits.disk_mb))
        if not kernel_installed():
            # the course's kernel, for this run only (make lab installs it for good)
            kdir = os.path.join(self.root, ".jupyter")
            write_kernelspec(kdir)
            env["JUPYTER_PATH"] = kdir + (os.pathsep + env["JUPYTER_PATH"] if env.get("JUPYTER_PATH") else "")
        return env

    def nbgrader(self, *args, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "nbgrader", *args]
        r = subprocess.run(cmd, cwd=self.config_dir, env=self.env(), capture_output=True, text=True)
        if not quiet:
            for line in (r.stdout + r.stderr).splitlines():
                if re.search(r"\[(\w+)\] (ERROR|WARNING|CRITICAL)|Traceback|Error", line) and "Kernel is running over TCP" not in line:
                    self.log("  nbgrader: " + line.strip()[:300])
        if check and r.returncode != 0:
            tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
            raise GradingError(f"`nbgrader {' '.join(args)}` failed (exit status {r.returncode}):\n{tail}")
        return r

    def assignments(self) -> list:
        found = sorted(d for d in os.listdir(self.source) if os.path.isdir(os.path.join(self.source, d))
                       and any(f.endswith(".ipynb") for f in os.listdir(os.path.join(self.source, d))))
        order = {a: i for i, a in enumerate(ASSIGNMENTS)}
        return sorted(found, key=lambda a: (order.get(a, 99), a))

    def _check_assignment(self, assignment: str) -> None:
        if assignment not in self.assignments():
            raise GradingError(f"unknown assignment {assignment!r}; assignments in {self.source}: "
                               f"{', '.join(self.assignments())}")

    def source_notebooks(self, assignment: str) -> list:
        d = os.path.join(self.source, assignment)
        return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".ipynb"))

    # -------------------------------------------------------------- 1. release
    def release(self, assignment: str) -> str:
        """nbgrader generate_assignment: solutions/<a>/ -> notebooks/<a>/, then check it leaks nothing."""
        self._check_assignment(assignment)
        self.nbgrader("generate_assignment", assignment, "--force")
        out = os.path.join(self.release_dir, assignment)
        leaks = self.leaks_in(out, assignment)
        if leaks:
            raise GradingError(f"the release {out} leaks solutions or hidden tests: {leaks[:5]}")
        self.log(f"released {assignment} -> {out}")
        return out

    def leaks_in(self, folder: str, assignment: str | None = None) -> list:
        secrets = set()
        for a in ([assignment] if assignment else self.assignments()):
            secrets |= secret_lines(self.source_notebooks(a))
        texts = {}
        for dirpath, _, files in os.walk(folder):
            for f in files:
                p = os.path.join(dirpath, f)
                texts[os.path.relpath(p, folder)] = _notebook_texts(p) if f.endswith(".ipynb") else \
                    open(p, errors="replace").read()
        return find_leaks(texts, secrets)

    # -------------------------------------------------------------- 2. collect
    def collect(self, assignment: str, archive: str) -> list:
        """Unpack a zip of submissions into ``submitted/<student>/<assignment>/``; return the student ids.

        Layouts accepted (what LMS exports and students' own zips look like):
        ``<student>/<notebook>.ipynb``, ``<student>/<assignment>/<notebook>.ipynb`` and
        ``<student>_<notebook>.ipynb`` (the student id is everything before ``_<notebook>``).
        Only the assignment's notebooks are taken; anything else (checkpoints, runs/) is left out.
        A notebook's time in the zip becomes nbgrader's submission timestamp.
        """
        self._check_assignment(assignment)
        wanted = {os.path.basename(p) for p in self.source_notebooks(assignment)}
        found: dict = {}
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if info.is_dir():
                    continue
                parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
                if any(p == ".." for p in parts) or not parts or parts[0] == "__MACOSX":
                    continue
                name = parts[-1]
                student = None
                if name in wanted and len(parts) >= 2:
                    student = parts[-3] if len(parts) >= 3 and parts[-2] == assignment else parts[-2]
                else:
                    for w in wanted:
                        if name.endswith("_" + w) and len(name) > len(w) + 1:
                            student, name = name[: -len(w) - 1], w
                if student is None:
                    continue
                if not STUDENT_ID.match(student):
                    raise GradingError(f"{archive}: {info.filename}: {student!r} is not a usable student id "
                                       f"(letters, digits, _ . @ + -)")
                found.setdefault(student, []).append((info, name))
        if not found:
            raise GradingError(f"{archive} holds no {sorted(wanted)} in a <student>/ folder or as "
                               f"<student>_<notebook>")
        with zipfile.ZipFile(archive) as z:
            for student, items in sorted(found.items()):
                dest = os.path.join(self.root, "submitted", student, assignment)
                os.makedirs(dest, exist_ok=True)
                latest = None
                for info, name in items:
                    with z.open(info) as src, open(os.path.join(dest, name), "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    t = datetime.datetime(*info.date_time)
                    latest = t if latest is None or t > latest else latest
                with open(os.path.join(dest, "timestamp.txt"), "w") as f:
                    f.write(latest.strftime("%Y-%m-%d %H:%M:%S.%f") + " UTC")
        self.log(f"collected {assignment} from {len(found)} student(s): {', '.join(sorted(found))}")
        return sorted(found)

    def submitted_students(self, assignment: str) -> list:
        d = os.path.join(self.root, "submitted")
        if not os.path.isdir(d):
            return []
        return sorted(s for s in os.listdir(d) if os.path.isdir(os.path.join(d, s, assignment)))

    # -------------------------------------------------------------- 3. autograde
    def autograde(self, assignment: str, students=None) -> list:
        """nbgrader autograde, one student at a time, each in a process (and a sandbox) of their own; return
        :meth:`scores`. ``students``: None (every submission), a glob (``"bad-*"``) or a list of ids.

        One failing, endless or hostile submission never stops or changes the others: a student whose grading
        failed gets a row of zeros and a reason in :attr:`failures` (nbgrader's own error lines included), and
        everyone else is graded as if it weren't there.
        """
        self._check_assignment(assignment)
        from .. import answers

        if not answers.available():  # else every hidden case would fail, for every student, without a word
            raise GradingError("autograding needs the instructor's reference implementations (course_answers, beside "
                               "course_lib in the course's repository), and this course_lib has none beside it: "
                               "install the course from its repository as `make lab` does (pip install -e .), not "
                               "from a wheel")
        if self.sandbox:
            from .sandbox import SandboxUnavailable, require_bwrap

            try:
                require_bwrap()
            except SandboxUnavailable as e:
                raise GradingError(str(e)) from None
        self._ensure_in_gradebook(assignment)
        submitted = self.submitted_students(assignment)
        if isinstance(students, str):
            students = [s for s in submitted if fnmatch.fnmatchcase(s, students)]
        elif students:
            unknown = [s for s in students if s not in submitted]
            if unknown:
                raise GradingError(f"no submission of {assignment} from {', '.join(unknown)}")
        else:
            students = submitted
        if not students:
            raise GradingError(f"no submissions of {assignment} to grade in {os.path.join(self.root, 'submitted')}: "
                               f"run `course grade collect {assignment} ZIP` first")
        self.failures = {}
        for student in students:
            why = self._autograde_one(assignment, student)
            if why:
                self.failures[student] = why
                self.log(f"  {student}: grading failed: {why}")
        scores = self.scores(assignment)
        graded = {row["student"] for row in scores if row["graded"]}
        for s in students:
            if s not in graded and s not in self.failures:
                self.failures[s] = "no grade was recorded"
        self._zero_failed(assignment, [s for s in students if s in self.failures])
        return self.scores(assignment)

    def _autograde_one(self, assignment: str, student: str) -> str | None:
        """Grade one submission in an nbgrader process of its own; None, or why it failed."""
        import nbformat

        folder = os.path.join(self.root, "submitted", student, assignment)
        for path in self.source_notebooks(assignment):
            mine = os.path.join(folder, os.path.basename(path))
            if os.path.exists(mine):
                try:
                    nbformat.read(mine, as_version=4)
                except Exception as e:  # noqa: BLE001 - whatever makes it unreadable, say what
                    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                    return f"{os.path.basename(mine)} is not a readable notebook ({type(e).__name__}: {first})"
        r = self.nbgrader("autograde", assignment, "--force", f"--student={student}", check=False, quiet=True)
        text = r.stdout + r.stderr
        errors = [ln.strip() for ln in text.splitlines()
                  if re.search(r"\[[^\]]*\b(ERROR|CRITICAL)\]", ln) and "Kernel is running over TCP" not in ln]
        stopped = list(dict.fromkeys(ln.split("Not graded: ", 1)[1] for ln in errors if "Not graded: " in ln))
        if stopped:
            return stopped[0]
        if r.returncode != 0:
            lines = "; ".join(e[:300] for e in errors[-4:]) or text.strip().splitlines()[-1:] or ["no output"]
            return f"nbgrader autograde failed (exit status {r.returncode}): {lines}"
        return None

    def _zero_failed(self, assignment: str, students: list) -> None:
        """A submission whose grading failed keeps its row: every test cell scores 0 (not "ungraded")."""
        if not students:
            return
        from nbgrader.api import Gradebook, MissingEntry

        db = f"sqlite:///{os.path.join(self.root, 'gradebook.db')}"
        with Gradebook(db, "gpu-rl-robots") as gb:
            for s in students:
                gb.update_or_create_student(s)
                try:
                    sub = gb.find_submission(assignment, s)
                except MissingEntry:
                    sub = gb.update_or_create_submission(assignment, s)
                for nb in sub.notebooks:
                    for g in nb.grades:
                        if g.auto_score is None and g.manual_score is None:
                            g.auto_score = 0.0
                            g.needs_manual_grade = False
            gb.db.commit()

    def _ensure_in_gradebook(self, assignment: str) -> None:
        """The gradebook must know the assignment's source notebooks (generate_assignment records them)."""
        from nbgrader.api import Gradebook, MissingEntry

        db = f"sqlite:///{os.path.join(self.root, 'gradebook.db')}"
        with Gradebook(db, "gpu-rl-robots") as gb:
            try:
                a = gb.find_assignment(assignment)
                known = bool(a.notebooks)
            except MissingEntry:
                known = False
        if not known:
            # record the assignment without touching the committed release: generate it into a scratch folder
            with tempfile.TemporaryDirectory() as tmp:
                scratch = Course(self.root, self.source, tmp, self.repo, self.cell_timeout, self.log)
                scratch.nbgrader("generate_assignment", assignment, "--force")

    def scores(self, assignment: str) -> list:
        """One row per submission: student, score, max_score, graded, and per test cell (grade_id: score)."""
        from nbgrader.api import Gradebook, MissingEntry

        rows = []
        db = f"sqlite:///{os.path.join(self.root, 'gradebook.db')}"
        with Gradebook(db, "gpu-rl-robots") as gb:
            try:
                a = gb.find_assignment(assignment)
            except MissingEntry:
                return rows
            for sub in a.submissions:
                cells, graded = {}, True
                for nb in sub.notebooks:
                    for g in nb.grades:
                        if g.auto_score is None and g.manual_score is None:
                            graded = False
                        cells[g.name] = g.score
                rows.append({"student": sub.student.id, "score": sub.score, "max_score": sub.max_score,
                             "graded": graded and bool(cells), "cells": cells})
        return sorted(rows, key=lambda r: r["student"])

    # -------------------------------------------------------------- 4. feedback
    def feedback(self, assignment: str, students=None) -> list:
        """nbgrader generate_feedback (hidden tests removed); return the HTML files, checked for leaks."""
        self._check_assignment(assignment)
        if students:  # nbgrader takes one --student (or a glob): one run each
            for s in students:
                self.nbgrader("generate_feedback", assignment, "--force", f"--student={s}")
        else:
            self.nbgrader("generate_feedback", assignment, "--force")
        out = []
        fb = os.path.join(self.root, "feedback")
        for s in (students or self.submitted_students(assignment)):
            d = os.path.join(fb, s, assignment)
            if os.path.isdir(d):
                out += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".html")]
        hidden = {ln for ln in _hidden_lines(self.source_notebooks(assignment)) if ln and not ln.startswith("#")}
        for path in out:
            leaks = hidden_test_leaks(open(path, errors="replace").read(), hidden)
            if leaks:
                raise GradingError(f"feedback {path} shows hidden tests: {leaks[:3]}")
        self.log(f"feedback for {assignment}: {len(out)} file(s) in {fb}")
        return out

    # -------------------------------------------------------------- 5. export
    def export(self, path: str = "grades.csv") -> str:
        """nbgrader export: one CSV row per student and assignment (0 for a missing submission)."""
        path = os.path.abspath(path)
        self.nbgrader("export", f"--to={path}")
        with open(path) as f:
            n = sum(1 for _ in csv.DictReader(f))
        self.log(f"exported {n} row(s) to {path}")
        return path

    def add_students(self, roster: str) -> list:
        """Import a roster CSV (columns: id, and optionally first_name, last_name, email) into the gradebook,
        so that the export has a row for every student, submitted or not."""
        self.nbgrader("db", "student", "import", os.path.abspath(roster))
        with open(roster) as f:
            return [row["id"] for row in csv.DictReader(f)]

    # -------------------------------------------------------------- 6. package
    def package(self, assignments=None, out: str = "dist/course_students.zip") -> str:
        """A zip for students: the released notebooks, a README and the Validate settings; checked to
        contain no solution and no hidden test. Release first (``course grade release``)."""
        assignments = list(assignments or self.assignments())
        out = os.path.abspath(out)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        files = {}
        for a in assignments:
            self._check_assignment(a)
            d = os.path.join(self.release_dir, a)
            if not os.path.isdir(d):
                raise GradingError(f"{a} is not released ({d} is missing): run `course grade release {a}`")
            for dirpath, dirnames, names in os.walk(d):
                dirnames[:] = [n for n in dirnames if not _ignored(n)]
                for n in names:
                    if not _ignored(n):
                        p = os.path.join(dirpath, n)
                        files[os.path.join(a, os.path.relpath(p, d))] = p
        readme = STUDENT_README.format(assignments="\n".join(f"- `{a}/`" for a in assignments))
        student_cfg = os.path.join(self.repo, "notebooks", "nbgrader_config.py")
        student_cfg = open(student_cfg).read() if os.path.isfile(student_cfg) else STUDENT_NBGRADER_CONFIG
        texts = {rel: (_notebook_texts(p) if p.endswith(".ipynb") else open(p, errors="replace").read())
                 for rel, p in files.items()}
        texts["README.md"] = readme
        texts["nbgrader_config.py"] = student_cfg
        secrets = set()
        for a in assignments:
            secrets |= secret_lines(self.source_notebooks(a))
        leaks = find_leaks(texts, secrets)
        if leaks:
            raise GradingError(f"the student package would leak solutions or hidden tests: {leaks[:5]}")
        wheel_dir = tempfile.mkdtemp(prefix="course_wheel_")
        try:
            wheel = self._library_wheel(wheel_dir)
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
                for rel, p in sorted(files.items()):
                    z.write(p, os.path.join("course", rel))
                z.write(wheel, os.path.join("course", "wheels", os.path.basename(wheel)))
                z.writestr("course/README.md", readme.replace("{wheel}", os.path.basename(wheel)))
                z.writestr("course/nbgrader_config.py", student_cfg)
                labconfig = os.path.join(self.repo, "notebooks", "labconfig", "page_config.json")
                if os.path.isfile(labconfig):  # hides nbgrader's instructor tools (Formgrader, Create Assignment)
                    z.write(labconfig, "course/labconfig/page_config.json")
        finally:
            shutil.rmtree(wheel_dir, ignore_errors=True)
        self.log(f"student package: {out} ({len(files)} file(s) from {', '.join(assignments)}, and the library as "
                 f"{os.path.basename(wheel)})")
        return out

    def _library_wheel(self, dest: str) -> str:
        """Build course_lib's wheel from the repository into ``dest``; refuse one that holds an answer (the
        instructor's course_answers package) or a solution. The wheel is what students install."""
        # pip builds in the repository's build/ folder, and setuptools packs whatever build/lib holds: a module since
        # deleted or moved (an answer moved to course_answers) would still be in the wheel. It is a cache: start clean.
        shutil.rmtree(os.path.join(self.repo, "build", "lib"), ignore_errors=True)
        r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", dest, self.repo], capture_output=True, text=True, cwd=dest)
        wheels = [os.path.join(dest, n) for n in os.listdir(dest) if n.endswith(".whl")]
        if r.returncode != 0 or len(wheels) != 1:
            raise GradingError(f"could not build course_lib's wheel from {self.repo}: {(r.stderr or r.stdout)[-500:]}")
        with zipfile.ZipFile(wheels[0]) as z:
            bad = [n for n in z.namelist() if n.split("/")[0] in ("course_answers", "solutions", "tests")]
            # every file of course_lib in the wheel is the repository's (the clean build above, checked)
            stale = [n for n in z.namelist() if n.startswith("course_lib/") and not (
                os.path.isfile(os.path.join(self.repo, n)) and _same_bytes(os.path.join(self.repo, n), z.read(n)))]
        if bad:
            raise GradingError(f"course_lib's wheel would give students the instructor's files: {bad[:5]}")
        if stale:
            raise GradingError(f"course_lib's wheel holds files that are not (or no longer) in {self.repo}/course_lib: "
                               f"{stale[:5]}; remove the stale build folder ({os.path.join(self.repo, 'build')}) and "
                               f"package again")
        return wheels[0]


def _same_bytes(path: str, data: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read() == data


def _ignored(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pat) for pat in (".ipynb_checkpoints", "*.pyc", "__pycache__", "runs", "*.pth",
                                                      ".DS_Store", "feedback"))


def _hidden_lines(paths) -> set:
    import nbformat

    out = set()
    for p in paths:
        for cell in nbformat.read(p, as_version=4).cells:
            hid, _ = _regions(cell.source, HIDDEN_BEGIN, HIDDEN_END)
            out.update(ln.strip() for ln in hid)
    return out


STUDENT_README = """# GPU-parallel reinforcement learning for robots: your notebooks

{assignments}

1. Install the course library (it is in `wheels/`) in a Python 3.10+ environment:
   `pip install "wheels/{{wheel}}[lab]"`, then `python -m course_lib.grading.kernel` to add the kernel
   "Python 3 (GPU RL course)". Install PyTorch first (pytorch.org; the CPU build if you have no NVIDIA GPU):
   otherwise pip brings its default build, several GB.
2. Start JupyterLab in this folder, so that the Validate button uses `nbgrader_config.py` and the student view
   of nbgrader (`labconfig/`) applies: `JUPYTER_CONFIG_PATH="$PWD" jupyter lab`.
3. Fill in the cells that say `YOUR CODE HERE`; check with the Validate button, or in a terminal with
   `course check ch02_cartpole/ch02_cartpole.ipynb`.
   On a hosted notebook service (Jupyter with its own PyTorch, no `make`, no nbgrader), upload this folder and
   run `%pip install "../wheels/{{wheel}}[hosted]"` in a chapter's notebook (its first cell says so), then
   restart the kernel: the installed PyTorch is kept, and the test cells say PASS or FAIL as they run.
4. Hand in the `.ipynb` files (your instructor says where). Keep every test cell and read-only cell as it is
   (moving one, or pasting it twice by accident, is fine): a notebook with one deleted, edited or turned into
   markdown is not graded. Your solution cells are graded on their own, in a fresh Python process without
   network: keep your code in them.
"""

STUDENT_NBGRADER_CONFIG = """# Settings for nbgrader's Validate button (start `jupyter lab` in this folder).
c = get_config()  # noqa: F821
c.Execute.timeout = 300  # seconds per cell: chapter 2 trains a policy in one cell
c.Execute.interrupt_on_timeout = True
c.Execute.kernel_name = "gpu-rl-course"
"""

