"""nbgrader preprocessors of the course (configured in ``autograder/nbgrader_config.py``).

- :class:`CourseExecute` (autograde): nbgrader's ``Execute``, surviving a kernel that dies.
- :class:`IsolatedRecheck` (autograde, right after ``Execute``): re-runs every
  ``check(...)`` of every test cell outside the student's kernel (see
  :mod:`course_lib.grading.isolated`) and makes that the cell's result.
- :class:`StripHiddenTests` (generate_feedback): removes hidden test regions
  from the feedback, and the tracebacks that would quote them.
- :class:`QuietStderr` (autograde, after ``IsolatedRecheck``): drops what the
  libraries write to stderr (warnings, progress bars) from every cell, so
  that nbgrader, which scores 0 a test cell with any stderr, does not take
  points for a library's warning.
"""
from __future__ import annotations

import re

from nbformat.notebooknode import NotebookNode, from_dict
from traitlets import Bool, Integer, Unicode

from nbgrader.preprocessors import Execute, NbGraderPreprocessor

__all__ = ["CourseExecute", "IsolatedRecheck", "StripHiddenTests", "QuietStderr", "apply_verdict",
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
    by :class:`IsolatedRecheck`, outside the kernel.
    """

    interrupt_grace = Integer(15, help="Seconds an interrupted kernel has to become idle before it is "
                              "restarted.").tag(config=True)

    def _note(self, cell, ename, text):
        cell.outputs.append(from_dict({"output_type": "error", "ename": ename, "evalue": text,
                                       "traceback": [f"{ename}: {text}"]}))

    def _restart(self):
        from jupyter_core.utils import run_sync

        run_sync(self.km.restart_kernel)(now=True)
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)

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

    def preprocess_cell(self, cell, resources, index):
        from nbclient.exceptions import DeadKernelError

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


def apply_verdict(cell, ok: bool, messages: list, note: str = "") -> None:
    """Make the fresh-process verdict the cell's result (nbgrader reads it from the outputs)."""
    kernel_failed = any(o.get("output_type") == "error" or (o.get("output_type") == "stream" and o.get("name") == "stderr")
                        for o in cell.get("outputs", []))
    kept = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"
            and not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            and o.get("output_type") != "execute_result"]
    lines = ["Graded outside your notebook's kernel (your solution cells and the reference, in fresh Python processes):"]
    if ok != (not kernel_failed):
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


class IsolatedRecheck(NbGraderPreprocessor):
    """Grade every ``check(...)`` test cell from fresh processes, not from the student's kernel."""

    enabled = Bool(True, help="Re-run the checks outside the kernel; their verdict is the grade.").tag(config=True)
    produce_timeout = Integer(300, help="Seconds for the process that runs the solution cells and the student "
                              "side of every check.").tag(config=True)
    judge_timeout = Integer(900, help="Seconds for the process that judges (trained policies included).").tag(config=True)
    cell_timeout = Integer(60, help="Seconds for each solution cell and each check in the fresh process.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict):
        from .isolated import recheck

        path = (resources.get("metadata") or {}).get("path") or "."
        try:
            result = recheck(nb, path, produce_timeout=self.produce_timeout, judge_timeout=self.judge_timeout,
                             cell_timeout=self.cell_timeout)
        except Exception as e:  # a grader bug: fail loudly in the log, keep the kernel's results
            self.log.error("IsolatedRecheck failed on %s: %s", path, e)
            raise
        if result is None:
            return nb, resources
        self.log.info("IsolatedRecheck: %d check(s) re-run in %.1f s", len(result.verdicts), result.seconds)
        for i, cell in enumerate(nb.cells):
            if not _is_grade(cell) or cell.cell_type != "code":
                continue
            v = result.cell_verdict(i)
            if v is None:
                continue
            ok, messages = v
            note = ""
            if not ok and result.cell_errors:
                errs = [e for e in result.cell_errors if e.get("index", -1) >= 0]
                if errs:
                    note = f"a solution cell raised {errs[0]['error']}"
            apply_verdict(cell, ok, messages, note)
        return nb, resources


class StripHiddenTests(NbGraderPreprocessor):
    """Feedback without hidden tests: their source, and the traceback lines that would quote it."""

    begin_delimiter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_delimiter = Unicode("END HIDDEN TESTS").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or self.begin_delimiter not in cell.source:
            return cell, resources
        lines, keep, inside = cell.source.split("\n"), [], False
        for line in lines:
            if self.begin_delimiter in line:
                inside = True
            elif self.end_delimiter in line:
                inside = False
            elif not inside:
                keep.append(line)
        cell.source = "\n".join(keep).rstrip() + "\n"
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
