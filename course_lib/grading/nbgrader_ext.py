"""nbgrader preprocessors of the course (configured in ``autograder/nbgrader_config.py``).

- :class:`CourseExecute` (autograde): nbgrader's ``Execute``, surviving a kernel that dies.
- :class:`CheckSubmission` (autograde, first): a malformed submission is not run, and says why.
- :class:`SandboxedGrade` (autograde, in place of ``Execute``): the notebook in a kernel inside the
  submission's sandbox, the solution cells again in a fresh sandbox, the verdict from a process that never
  ran student code (see :mod:`course_lib.grading.sandbox` and :mod:`course_lib.grading.isolated`).
- :class:`StripHiddenTests` (generate_feedback): removes hidden test regions
  from the feedback, and the tracebacks that would quote them.
- :class:`QuietStderr` (autograde, after ``SandboxedGrade``): drops what the
  libraries write to stderr (warnings, progress bars) from every cell, so
  that nbgrader, which scores 0 a test cell with any stderr, does not take
  points for a library's warning.
"""
from __future__ import annotations

import os
import re
import sys

from nbformat.notebooknode import NotebookNode, from_dict
from traitlets import Bool, Integer, Unicode

from nbgrader.preprocessors import Execute, NbGraderPreprocessor

__all__ = ["CourseExecute", "SandboxedGrade", "CheckSubmission", "StripHiddenTests", "QuietStderr", "apply_verdict",
           "LIBRARY_STDERR"]

#: what libraries write to stderr: Python warnings (``file:line: XWarning: ...`` and the
#: source line that follows), tqdm progress bars, PyTorch / rl-games notices.
LIBRARY_STDERR = (r"(Warning: |warnings\.warn\(|^\s*\d+%\|| it/s\]|\[W\d+ |UserWarning|DeprecationWarning|"
                  r"FutureWarning|RuntimeWarning|ListingWarning)")


class CourseExecute(Execute):
    """nbgrader's Execute, hardened: one student's notebook cannot lose its grade or stall the others.

    - A kernel that dies (out of memory, a crash in native code): the cell that was running gets an error,
      a fresh kernel takes over and the notebook goes on.
    - A cell that runs past the time-out is interrupted (nbgrader's behaviour); if the kernel is still busy
      ``interrupt_grace`` seconds later (the cell catches KeyboardInterrupt), it is restarted, instead of
      every later cell timing out behind it.

    After a restart the cells below run without what the cells above defined; the tests are graded anyway,
    by :class:`SandboxedGrade`, outside the kernel.
    """

    interrupt_grace = Integer(15, help="Seconds an interrupted kernel has to become idle before it is "
                              "restarted.").tag(config=True)

    def _note(self, cell, ename, text):
        cell.outputs.append(from_dict({"output_type": "error", "ename": ename, "evalue": text,
                                       "traceback": [f"{ename}: {text}"]}))

    _broken = None  #: why no kernel can run the rest of the notebook (a restart failed)

    def _restart(self):
        from jupyter_core.utils import run_sync

        try:
            run_sync(self.km.restart_kernel)(now=True)
            run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
        except Exception as e:  # noqa: BLE001 - no kernel: the cells below are not run, the grade is still made
            self._broken = f"a fresh kernel could not be started ({type(e).__name__}: {e})"
            self.log.error("The kernel could not be restarted: %s", e)

    def _responsive(self) -> bool:
        """Does the kernel answer an empty request within interrupt_grace seconds?"""
        import time

        from jupyter_core.utils import ensure_async, run_sync

        msg_id = self.kc.execute("", silent=True, store_history=False)
        deadline = time.monotonic() + self.interrupt_grace

        async def reply():
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                try:
                    msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=left))
                except Exception:  # noqa: BLE001 - queue.Empty / TimeoutError: no answer in time
                    return False
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    return True

        return run_sync(reply)()

    def preprocess(self, nb, resources, km=None):
        self._broken = None
        return super().preprocess(nb, resources, km=km)

    def preprocess_cell(self, cell, resources, index):
        from nbclient.exceptions import DeadKernelError

        if self._broken and cell.cell_type == "code":
            if cell.source.strip():
                self._note(cell, "NotRun", f"not run: {self._broken}")
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self.log.error("The kernel died in cell %d; restarting it and going on", index)
            self._note(cell, "KernelDied", "the kernel died while running this cell (out of memory? a crash in "
                       "native code?); the cells below ran in a fresh kernel, without what the cells above defined")
            self._restart()
            return cell, resources
        timed_out = any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError"
                        for o in cell.get("outputs", []))
        if timed_out and not self._responsive():
            self.log.error("The kernel ignored the interrupt after cell %d timed out; restarting it", index)
            self._note(cell, "KernelRestarted", f"the cell was interrupted after {self.timeout} s but kept running; "
                       f"the kernel was restarted, and the cells below ran without what the cells above defined")
            self._restart()
        return cell, resources


def _is_grade(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


def apply_verdict(cell, ok: bool, messages: list, note: str = "", sandboxed: bool = False) -> None:
    """Make the fresh-process verdict the cell's result (nbgrader reads it from the outputs)."""
    kernel_failed = any(o.get("output_type") == "error" or (o.get("output_type") == "stream" and o.get("name") == "stderr")
                        for o in cell.get("outputs", []))
    kept = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"
            and not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            and o.get("output_type") != "execute_result"]
    lines = ["Graded outside your notebook's kernel (your solution cells and the reference, in fresh Python processes):"]
    if sandboxed:
        lines = ["Graded outside your notebook: your solution cells ran again in a fresh sandbox, on the grader's "
                 "cases, and a separate process compared their results with the reference:"]
    elif ok != (not kernel_failed):
        lines.append("  note: in your notebook's kernel this test " + ("failed" if kernel_failed else "passed")
                     + "; the grade comes from the fresh process.")
    if note:
        lines.append(f"  note: {note}")
    passed = [m for m in messages if m.startswith("PASS")]
    lines += [f"  {m}" for m in passed]
    kept.append(from_dict({"output_type": "stream", "name": "stdout", "text": "\n".join(lines) + "\n"}))
    if not ok:
        failed = [m for m in messages if not m.startswith("PASS")]
        evalue = "\n".join(failed)
        kept.append(from_dict({"output_type": "error", "ename": "AssertionError", "evalue": evalue,
                               "traceback": [f"AssertionError: {m}" for m in failed]}))
    cell["outputs"] = kept


class StripHiddenTests(NbGraderPreprocessor):
    """Feedback without hidden tests: their source, and the traceback lines that would quote it."""

    begin_delimiter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_delimiter = Unicode("END HIDDEN TESTS").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or self.begin_delimiter not in cell.source:
            return cell, resources
        cell.source = _strip_hidden(cell.source, self.begin_delimiter, self.end_delimiter).rstrip() + "\n"
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                # IPython's traceback quotes the lines around the failing one: keep the message only
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources


class QuietStderr(NbGraderPreprocessor):
    """Drop library noise on stderr (a superset of nbgrader's IgnorePattern: line by line, not whole outputs)."""

    enabled = Bool(True).tag(config=True)
    pattern = Unicode(LIBRARY_STDERR, help="Regular expression of stderr lines to drop.").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        rx = re.compile(self.pattern)
        outs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = "".join(out.get("text", ""))
                lines = [ln for ln in text.splitlines(keepends=True) if not rx.search(ln)]
                # a warning's second line is the source line it points at: drop indented lines left alone
                if lines and all(ln.startswith("  ") or not ln.strip() for ln in lines):
                    lines = []
                if not "".join(lines).strip():
                    continue
                out["text"] = "".join(lines)
            outs.append(out)
        cell["outputs"] = outs
        return cell, resources


# ------------------------------------------------------------------ grading in a sandbox
from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from traitlets import Any as _Any  # noqa: E402


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel started inside the submission's sandbox (:mod:`course_lib.grading.sandbox`).

    The kernel talks to the grader over Unix sockets (``transport="ipc"``) in a folder bound into the
    sandbox: the sandbox has no network, not even the grader's loopback. Every (re)start is a fresh sandbox
    with the time that is left of the notebook's.
    """

    sandbox_config = _Any(None, help="a course_lib.grading.sandbox.SandboxConfig (None: an ordinary kernel)")
    deadline = _Any(None, help="time.monotonic() by which the whole notebook must be done")
    launch_dir = _Any(None, help="a grader-owned folder (outside the sandbox) for the launcher's files")
    _launches = 0

    def format_kernel_cmd(self, extra_arguments=None):
        import dataclasses
        import json
        import time

        from .evaluate_policy import fresh_python

        cmd = super().format_kernel_cmd(extra_arguments)
        cfg = self.sandbox_config
        if cfg is None:
            return cmd
        # a SIGINT to the launcher cannot reach a kernel in its own session and PID namespace: interrupt it with a
        # message on the control channel instead (ipykernel then signals itself)
        self.kernel_spec.interrupt_mode = "message"
        self._launches += 1
        left = max(5.0, self.deadline - time.monotonic()) if self.deadline else cfg.limits.wall_s
        limits = dataclasses.replace(cfg.limits, wall_s=left)
        self.report_path = os.path.join(self.launch_dir, f"kernel-{self._launches}.report.json")
        conf = os.path.join(self.launch_dir, f"kernel-{self._launches}.json")
        with open(conf, "w") as f:
            json.dump(dataclasses.asdict(dataclasses.replace(cfg, limits=limits, report=self.report_path)), f)
        return fresh_python("course_lib.grading.sandbox", "launch", conf, "--", *cmd)

    def stopped_by(self) -> str | None:
        import json

        try:
            with open(self.report_path) as f:
                return json.load(f).get("stop")
        except (AttributeError, OSError, ValueError):
            return None


def _strip_hidden(source: str, begin: str = "BEGIN HIDDEN TESTS", end: str = "END HIDDEN TESTS") -> str:
    """``source`` without its hidden-test regions (their delimiter lines included)."""
    out, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def fail_every_test(nb, message: str) -> None:
    """Grading stopped before any check could run: every test cell shows why and scores 0."""
    for cell in nb.cells:
        if cell.cell_type == "code" and _is_grade(cell):
            cell["outputs"] = [from_dict({"output_type": "error", "ename": "GradingStopped", "evalue": message,
                                          "traceback": [f"GradingStopped: {message}"]})]


class SandboxedGrade(CourseExecute):
    """Autograde one notebook with its student's code in a sandbox, and the verdict from outside it.

    1. The notebook runs in a kernel inside the submission's sandbox, on a scratch copy of its folder,
       with its hidden tests removed (hidden cases never reach a process where student code runs as code
       it can print). The whole notebook has ``notebook_timeout`` seconds; cells past it are not run.
    2. The solution cells run again in a fresh sandbox, with each check's ``produce`` on the grader's cases
       (the hidden ones included): only tensors, strings and numbers come back.
    3. A fresh interpreter outside any sandbox, that never ran student code, judges those outputs (and the
       trained policies the notebook saved, as data); its verdict replaces each test cell's outputs.

    The scratch copy is removed afterwards: what the sandbox wrote never reaches the course root.
    """

    sandbox = Bool(True, help="Run students' code in bubblewrap (False: --no-sandbox, limits only).").tag(config=True)
    notebook_timeout = Integer(1800, help="Seconds for the whole notebook.").tag(config=True)
    memory_mb = Integer(8192, help="MiB of memory for the sandbox.").tag(config=True)
    max_procs = Integer(512, help="Processes and threads the sandbox may run at once.").tag(config=True)
    disk_mb = Integer(2048, help="MiB the sandbox's folder may hold.").tag(config=True)
    produce_timeout = Integer(300, help="Seconds for the re-run of the solution cells and every check's "
                              "student side.").tag(config=True)
    judge_timeout = Integer(900, help="Seconds for the judge (trained policies included).").tag(config=True)
    check_timeout = Integer(60, help="Seconds for each solution cell and each check in the re-run.").tag(config=True)
    torch_threads = Integer(0, help="OMP_NUM_THREADS in the sandbox (0: this process's, else the cores).").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self._cfg = None
        self._used_up = False  # a cell ran into the whole notebook's limit: nothing more runs

    def limits(self):
        from .sandbox import Limits

        return Limits(wall_s=float(self.notebook_timeout), memory_mb=self.memory_mb, max_procs=self.max_procs,
                      disk_mb=self.disk_mb)

    def _env(self) -> dict:
        # as many threads as an ordinary kernel would use (torch's default: the cores), unless told otherwise
        threads = str(self.torch_threads or os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
        env = {"PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
               "HOME": "/home/student", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
               "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "IPYTHONDIR": "/home/student/.ipython",
               "JUPYTER_RUNTIME_DIR": "/tmp/jupyter", "MPLCONFIGDIR": "/tmp/matplotlib"}
        for k in ("CUDA_VISIBLE_DEVICES",):
            if k in os.environ:
                env[k] = os.environ[k]
        # the kernel imports the course_lib this grader runs (a source checkout's too), the only one it can see
        import course_lib

        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(course_lib.__file__)))
        return env

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if self._cfg is not None and isinstance(km, SandboxedKernelManager):
            km.transport = "ipc"
            km.ip = os.path.join(self._runtime, "kernel")
            km.connection_file = os.path.join(self._runtime, "kernel.json")
            km.sandbox_config, km.deadline, km.launch_dir = self._cfg, self._deadline, self._launch_dir
        return km

    def _note(self, cell, ename, text):
        from .sandbox import describe_stop

        stop = self.km.stopped_by() if isinstance(getattr(self, "km", None), SandboxedKernelManager) else None
        if stop:
            text = f"your notebook's sandbox stopped it: {describe_stop(stop, self.limits())}. " + text
        super()._note(cell, ename, text)

    def preprocess_cell(self, cell, resources, index):
        import time

        left = self._deadline - time.monotonic()
        if cell.cell_type == "code" and (left <= 0 or self._used_up):
            if cell.source.strip():
                cell.outputs = [from_dict({"output_type": "error", "ename": "NotebookTimeout",
                                           "evalue": f"not run: the notebook's {self.notebook_timeout} s were used "
                                                     f"up by the cells above", "traceback": []})]
            return cell, resources
        configured = self.timeout
        capped = cell.cell_type == "code" and (not configured or left < configured)
        self.timeout = int(max(1, min(configured or left, left)))
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        finally:
            self.timeout = configured
        if capped and any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
            # this cell ran into the whole notebook's limit, not its own: say so, and run nothing more (the
            # fraction of a second left over would let the next cell start, and then stop it at random)
            self._used_up = True
            self._note(cell, "NotebookTimeout", f"stopped: the notebook's {self.notebook_timeout} s were used up "
                       f"by this cell and the cells above; the cells below were not run")
        return cell, resources

    def _keep_graded_files(self, nb, work: str, dest: str) -> None:
        """Copy the files the policy checks judged (the checkpoints the grader names, nothing the student chose)
        from the scratch folder into the autograded folder, where the instructor (and ``course check
        --no-execute``) finds them; links and anything outside the scratch folder are left out."""
        import shutil

        from .isolated import collect_request

        try:
            req = collect_request(nb)
        except Exception:  # noqa: BLE001 - no checks to read: nothing to keep
            return
        work = os.path.realpath(work)
        for c in (req or {}).get("checks", []):
            rel = c["params"].get("checkpoint") if c["kind"] == "policy" else None
            if not rel or os.path.isabs(rel) or ".." in rel.replace("\\", "/").split("/"):
                continue
            src = os.path.join(work, rel)
            if os.path.islink(src) or not os.path.isfile(src) or os.path.commonpath([work, os.path.realpath(src)]) != work:
                continue
            os.makedirs(os.path.dirname(os.path.join(dest, rel)) or dest, exist_ok=True)
            shutil.copyfile(src, os.path.join(dest, rel))

    def preprocess(self, nb: NotebookNode, resources: dict):
        import copy
        import shutil
        import tempfile
        import time

        from .isolated import recheck
        from .sandbox import SandboxConfig, require_bwrap

        stopped = (nb.metadata.get("course_grading") or {}).get("stopped")
        if stopped:
            self.log.error("Not graded: %s", stopped)
            fail_every_test(nb, stopped)
            return nb, resources
        if self.sandbox:
            require_bwrap()  # SandboxUnavailable: nbgrader reports this notebook as failed, with the message
        path = os.path.abspath((resources.get("metadata") or {}).get("path") or ".")
        tmp = tempfile.mkdtemp(prefix="course_grade_")
        try:
            work, self._runtime, self._launch_dir = (os.path.join(tmp, d) for d in ("work", "kernel", "launch"))
            shutil.copytree(path, work, symlinks=True)
            fresh = os.path.join(tmp, "fresh")  # the submission as handed in
            shutil.copytree(path, fresh, symlinks=True)
            os.mkdir(self._runtime)
            os.mkdir(self._launch_dir)
            os.chmod(tmp, 0o700)
            self._deadline = time.monotonic() + self.notebook_timeout
            self._used_up = False
            self._cfg = SandboxConfig(workdir=work, limits=self.limits(), sandbox=self.sandbox,
                                      rw_binds=[self._runtime], env=self._env(), quiet=True)
            run_nb = copy.deepcopy(nb)
            for cell in run_nb.cells:
                if cell.cell_type == "code" and _is_grade(cell):
                    cell.source = _strip_hidden(cell.source)
            run_res = copy.deepcopy(resources)
            run_res.setdefault("metadata", {})["path"] = work
            t0 = time.perf_counter()
            run_nb, _ = super().preprocess(run_nb, run_res)
            self.log.info("Executed in the sandbox in %.1f s", time.perf_counter() - t0)
            for cell, ran in zip(nb.cells, run_nb.cells):
                if cell.cell_type == "code":
                    cell["outputs"], cell["execution_count"] = ran.get("outputs", []), ran.get("execution_count")
                    if any("File too large" in str(o.get("evalue", "")) for o in cell["outputs"]):
                        # the per-file limit (RLIMIT_FSIZE) refused a write before the folder's watchdog saw it
                        cell["outputs"].append(from_dict({"output_type": "stream", "name": "stdout", "text":
                            f"note: the sandbox allows {self.disk_mb} MiB in a submission's folder (and per file)\n"}))
            # the solution cells' re-run sees what the notebook wrote (chapter 4 reads its own runs/), unless the
            # notebook filled its folder: then the submission as handed in
            from .sandbox import _dir_size

            size, entries = _dir_size(work)
            full = size > 0.9 * (self.disk_mb << 20) or entries > 100_000
            produce_cfg = SandboxConfig(workdir=fresh if full else work, limits=self.limits(), sandbox=self.sandbox,
                                        env=self._env())
            result = recheck(nb, work, produce_timeout=self.produce_timeout, judge_timeout=self.judge_timeout,
                             cell_timeout=self.check_timeout, sandbox=produce_cfg)
            if result is not None and result.produce_error:
                self.log.warning("The solution cells' re-run failed (%s); its stderr ends:\n%s", result.produce_error,
                                 result.produce_log)
            self._keep_graded_files(nb, work, path)
            if result is not None:
                self.log.info("Judged %d check(s) outside the sandbox in %.1f s", len(result.verdicts), result.seconds)
                for i, cell in enumerate(nb.cells):
                    if cell.cell_type != "code" or not _is_grade(cell):
                        continue
                    v = result.cell_verdict(i)
                    if v is None:
                        continue
                    note = ""
                    if not v[0] and any(e.get("index", -1) >= 0 for e in result.cell_errors):
                        # (its message is not repeated: text from student code never reaches the verdict)
                        note = "a solution cell raised an exception when it ran on its own (its output above says why)"
                    cell["outputs"] = []  # the kernel's run of this cell decides nothing
                    apply_verdict(cell, v[0], v[1], note, sandboxed=True)
        finally:
            self._cfg = None
            shutil.rmtree(tmp, ignore_errors=True)
        return nb, resources


# ------------------------------------------------------------------ malformed submissions
_META_KEYS = ("grade", "solution", "locked", "points", "task")


def submission_problems(submitted, release) -> list:
    """What makes a submitted notebook ungradable, compared with the released one (both nbformat nodes).

    Accepted as they are: cells moved, a test cell duplicated intact (nbgrader keeps one copy), solution
    cells edited (that is the work), cells added without nbgrader metadata. Problems: a test or solution
    cell deleted or turned into markdown, a test cell edited, nbgrader metadata changed or invented.
    """
    def meta(cell):
        md = (cell.get("metadata") or {}).get("nbgrader") or {}
        return md if isinstance(md, dict) else {"invalid": True}

    def norm(src):
        return "\n".join(line.rstrip() for line in (src if isinstance(src, str) else "".join(src)).strip().split("\n"))

    released = {}
    for cell in release.cells:
        md = meta(cell)
        if md.get("grade_id"):
            released[md["grade_id"]] = cell
    problems, seen = [], {}
    for cell in submitted.cells:
        md = meta(cell)
        gid = md.get("grade_id")
        if md.get("invalid"):
            problems.append("a cell's nbgrader metadata is not a dictionary")
            continue
        if not gid:
            if any(md.get(k) for k in ("grade", "solution", "locked")):
                problems.append("a cell has nbgrader metadata without a grade_id")
            continue
        if gid not in released:
            problems.append(f"cell {gid!r} has nbgrader metadata that the assignment does not have")
            continue
        seen.setdefault(gid, []).append(cell)
    for gid, orig in released.items():
        om, copies = meta(orig), seen.get(gid, [])
        kind = "test cell" if om.get("grade") and not om.get("solution") else \
            "solution cell" if om.get("solution") else "read-only cell"
        if not copies:
            problems.append(f"the {kind} {gid!r} is missing (deleted, or its nbgrader metadata was changed)")
            continue
        good = []
        for c in copies:
            cm = meta(c)
            if c.get("cell_type") != orig.get("cell_type"):
                why = f"the {kind} {gid!r} was turned into a {c.get('cell_type')} cell"
            elif any(bool(cm.get(k)) != bool(om.get(k)) or (k == "points" and cm.get(k) != om.get(k))
                     for k in _META_KEYS):
                why = f"the nbgrader metadata of the {kind} {gid!r} was changed"
            elif kind != "solution cell" and norm(c.get("source", "")) != norm(orig.get("source", "")):
                why = f"the {kind} {gid!r} was edited"
            else:
                why = None
            if why:
                problems.append(why)
            else:
                good.append(c)
        if len(copies) > 1 and kind == "solution cell":
            problems.append(f"the solution cell {gid!r} appears {len(copies)} times: keep one")
    return list(dict.fromkeys(problems))


class CheckSubmission(NbGraderPreprocessor):
    """First step of autograde: is the submission gradable? (Compared with the released notebook.)

    A malformed one is not run at all: its cells are replaced by the released ones (so nbgrader's later
    steps work), and the reason goes into the notebook's metadata, where :class:`SandboxedGrade` finds it
    and shows it in every test cell (the student's feedback) and in nbgrader's log (the instructor's
    summary).
    """

    release_directory = Unicode("", help="The released notebooks (<dir>/<assignment>/<notebook>.ipynb).").tag(config=True)

    def preprocess(self, nb, resources):
        import nbformat

        info = resources.get("nbgrader") or {}
        name = f"{info.get('notebook')}.ipynb"
        path = os.path.join(self.release_directory, str(info.get("assignment")), name)
        if not os.path.isfile(path):
            return nb, resources  # nothing to compare with (an assignment graded from its source only)
        release = nbformat.read(path, as_version=4)
        problems = submission_problems(nb, release)
        if not problems:  # intact duplicates of a cell (copy and paste): keep the first, graded normally
            seen = set()
            kept = []
            for cell in nb.cells:
                gid = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
                if gid and gid in seen:
                    self.log.warning("Cell %r appears more than once; the copies are dropped", gid)
                    continue
                seen.add(gid) if gid else None
                kept.append(cell)
            nb.cells = kept
        if problems:
            message = ("this notebook could not be graded: " + "; ".join(problems) + ". Start again from a fresh "
                       "copy of the released notebook and paste your solutions into its cells.")
            self.log.error("Not graded: %s", message)
            nb.cells = release.cells
            nb.metadata.setdefault("course_grading", {})["stopped"] = message
        return nb, resources
