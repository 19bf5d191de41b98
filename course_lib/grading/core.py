"""Checks: one behaviour of a student's code, compared with the reference on seeded cases.

A check has three parts, kept apart so that the part that runs the student's
code never decides the grade:

- ``cases(**params)``: the inputs, generated from a seed (no student code);
- ``produce(objs, cases)``: runs the student's objects (functions, classes)
  on the cases and returns plain tensors (no judgement);
- ``judge(cases, outputs)``: computes the reference on the same cases and
  compares; raises :class:`CheckFailed` with a message that says what is
  wrong.

In a notebook, a test cell calls :func:`check`, which runs all three in the
kernel (that is what nbgrader's Validate button and ``course check`` show).
When an instructor autogrades, :mod:`course_lib.grading.isolated` runs them
again in two fresh processes: ``produce`` on the student's solution cells
only, ``judge`` with no student code at all; that verdict is the grade. So a
student who monkeypatches ``course_lib`` or this module in the kernel
changes only what they see, never their grade.

``policy`` checks (trained-policy success rates) have no ``produce``: the
judge loads the checkpoint file and evaluates it on the reference task, in a
fresh interpreter (``python -I -m course_lib.grading.evaluate_policy``).
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Check", "CheckFailed", "REGISTRY", "register", "check", "get", "quiet", "run_produce", "run_judge",
           "PREAMBLES", "preamble", "assignment_of", "label"]


class CheckFailed(AssertionError):
    """A check found a difference from the reference. The message says what, and how to look."""


@dataclass
class Check:
    """One graded behaviour."""

    name: str  #: "ch02.reward_upright": assignment prefix, then the behaviour
    behaviour: str  #: one line: what is checked (a test cell's first line says the same)
    needs: tuple = ()  #: names the student defines (looked up in the notebook's namespace)
    cases: Callable[..., dict] | None = None  #: params -> inputs (seeded; no student code)
    produce: Callable[[dict, dict], dict] | None = None  #: (student objects, cases) -> outputs
    judge: Callable[[dict, dict], str | None] | None = None  #: (cases, outputs) -> message, or raise CheckFailed
    kind: str = "compare"  #: "compare" (produce + judge) or "policy" (judge only, on a checkpoint file)
    defaults: dict = field(default_factory=dict)  #: default params
    #: cases -> an expected value the judge reads through :func:`course_lib.grading.reference.expected`
    #: (``course_answers.store_expected`` stores them for the visible cases)
    expects: tuple = ()


REGISTRY: dict[str, Check] = {}

#: The code that the grader runs before a notebook's solution cells, in a fresh
#: process. Each chapter notebook's "imports" cell is exactly this code (a test
#: checks it), so the solution cells see the same names in the kernel and in the
#: fresh process.
PREAMBLES: dict[str, str] = {}


def register(chk: Check) -> Check:
    if chk.name in REGISTRY:
        raise ValueError(f"check {chk.name!r} is registered twice")
    REGISTRY[chk.name] = chk
    return chk


def assignment_of(name: str) -> str:
    """"ch02.reward_upright" -> "ch02"."""
    return name.split(".", 1)[0]


def _load_all() -> None:
    """Import every chapter module (``chNN.py`` in this package): each registers its checks on import."""
    import importlib
    import os
    import pkgutil
    import re

    for mod in pkgutil.iter_modules([os.path.dirname(os.path.abspath(__file__))]):
        if re.fullmatch(r"ch\d\d", mod.name):
            importlib.import_module(f"{__package__}.{mod.name}")


def preamble(assignment: str) -> str:
    """The imports a chapter's solution cells run after ("ch02" or "ch02_cartpole")."""
    _load_all()
    return PREAMBLES[assignment[:4]]


def get(name: str) -> Check:
    _load_all()
    if name not in REGISTRY:
        raise KeyError(f"unknown check {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name]


@contextlib.contextmanager
def quiet():
    """Run student code with its warnings and its stdout/stderr captured.

    nbgrader scores a test cell 0 when anything reaches stderr; a library
    warning or a student's debug print must not cost points, so whatever the
    student's code writes while a check runs is captured here and summarised
    on stdout (``log`` after the block).
    """
    out, err = io.StringIO(), io.StringIO()
    log: dict = {"stdout": out, "stderr": err, "warnings": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                yield log
            finally:
                log["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]


def _summary(log: dict) -> str:
    parts = []
    for key in ("stdout", "stderr"):
        text = log[key].getvalue()
        if text.strip():
            lines = text.splitlines()
            parts.append(f"your code printed {len(lines)} line(s) to {key} (first: {lines[0][:120]!r})")
    ws = list(dict.fromkeys(log["warnings"]))
    if ws:
        parts.append(f"{len(log['warnings'])} warning(s) (first: {ws[0][:200]})")
    return "; ".join(parts)


def describe_exception(e: BaseException) -> str:
    """One line: ``ValueError: message`` (with the student's line, when there is one)."""
    import traceback

    where = ""
    tb = traceback.extract_tb(e.__traceback__)
    for fr in reversed(tb):
        path = fr.filename.replace("\\", "/")
        if "/course_lib/" in path or "site-packages/" in path or "/lib/python" in path:
            continue
        where = f" (in {fr.name}, line {fr.lineno}: {(fr.line or '').strip()[:100]})"
        break
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}{where}" if msg else f"{type(e).__name__}{where}"


def run_produce(chk: Check, objs: dict, params: dict) -> dict:
    """Run the student's side of ``chk``. Never raises: an exception of the
    student's code becomes ``{"error": "..."}`` in the outputs."""
    cases = chk.cases(**params)
    with quiet() as log:
        try:
            outputs = chk.produce(objs, cases)
        except CheckFailed as e:  # found wrong before any comparison (e.g. not a tensor)
            outputs = {"error": str(e), "failed": True}
        except Exception as e:  # the student's code raised: that is the result
            outputs = {"error": describe_exception(e)}
    note = _summary(log)
    if note:
        outputs = dict(outputs)
        outputs["note"] = note
    return outputs


#: exception names that a verdict may repeat when the text comes from a process that ran student code
_BUILTIN_ERRORS = {n for n in dir(__import__("builtins")) if n.endswith(("Error", "Exception", "Exit", "Interrupt"))}


def run_judge(chk: Check, params: dict, outputs: dict, quote_student: bool = True) -> str:
    """Judge ``outputs``; return the pass message or raise :class:`CheckFailed`.

    ``quote_student=False`` (autograding): no text that the student's process wrote reaches the verdict (it
    could carry the hidden cases into the feedback); only the name of a built-in exception, and the judge's
    own messages, computed from the tensors."""
    if "error" in outputs:
        if not quote_student:
            text = str(outputs["error"])
            name = text.split(":", 1)[0].strip()
            if outputs.get("failed"):
                raise CheckFailed(f"{label(chk, params)}: your code's result could not be used (run this test in "
                                  f"your notebook to see why)")
            raise CheckFailed(f"{label(chk, params)}: your code raised "
                              f"{name if name in _BUILTIN_ERRORS else 'an exception'} (run this test in your notebook "
                              f"to see the traceback)")
        if outputs.get("failed"):
            raise CheckFailed(f"{label(chk, params)}: {outputs['error']}")
        raise CheckFailed(f"{label(chk, params)}: your code raised {outputs['error']}")
    cases = chk.cases(**params)
    try:
        msg = chk.judge(cases, outputs)
    except CheckFailed as e:
        raise CheckFailed(f"{label(chk, params)}: {e}") from None
    return msg or ""


def label(chk: Check, params: dict) -> str:
    """The behaviour, marked when the cases are hidden ones."""
    return ("[hidden cases] " if params.get("hidden") else "") + chk.behaviour


def _lookup(chk: Check, namespace: dict) -> dict:
    objs, missing = {}, []
    for n in chk.needs:
        if n in namespace:
            objs[n] = namespace[n]
        else:
            missing.append(n)
    if missing:
        raise CheckFailed(f"{chk.behaviour}: {', '.join(missing)} is not defined; run the cell(s) that define "
                          f"{'it' if len(missing) == 1 else 'them'} first (and check the spelling)")
    return objs


def _show_students_frames_only() -> None:
    """In an IPython kernel, show a :class:`CheckFailed` with the student's frames only (the test cell's line)
    and the message, never this package's frames: IPython ignores ``__tracebackhide__``, so ``check`` registers
    a custom exception handler for CheckFailed, once per kernel. The cell still fails (an ``error`` output,
    execute_reply status "error"), so nbgrader's Validate button and autograder see the failure as before."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc") or shell.custom_exceptions:
        return  # not IPython, registered already, or another handler's (left alone)

    def handler(self, etype, value, tb, tb_offset=None):
        import types

        kept = []
        while tb is not None:
            if "/course_lib/grading/" not in tb.tb_frame.f_code.co_filename.replace("\\", "/"):
                kept.append(tb)
            tb = tb.tb_next
        short = None
        for t in reversed(kept):
            short = types.TracebackType(short, t.tb_frame, t.tb_lasti, t.tb_lineno)
        self.showtraceback((etype, value.with_traceback(short), short), tb_offset=tb_offset)

    shell.set_custom_exc((CheckFailed,), handler)


def check(name: str, namespace: dict | None = None, **params) -> None:
    """Run the check ``name`` on what ``namespace`` (a notebook's ``globals()``) defines.

    Prints ``PASS <behaviour>`` or raises :class:`CheckFailed` (an
    AssertionError) that says what differs from the reference. ``params``
    select the cases (``seed``, ``n``, ...; see the chapter's module).
    """
    __tracebackhide__ = True  # pytest: show the message, not our frames (IPython ignores it: see below)
    _show_students_frames_only()
    chk = get(name)
    p = {**chk.defaults, **params}
    if chk.kind == "policy":
        from .evaluate_policy import own_task_result, policy_result

        # no reference task on this machine (a student's): the policy is evaluated on the student's own task, and
        # the line says so; the grade evaluates it on the reference
        result = own_task_result(p, namespace or {})
        where = ""
        if result is None:
            result = policy_result(p, fresh=True)
        else:
            what = "observation" if p.get("mode") == "deploy" else "task"
            where = f" [with your own {result['task']}: this machine has no reference {what}; the grade uses it]"
        try:
            msg = chk.judge(p, result)
        except CheckFailed as e:
            raise CheckFailed(f"{label(chk, p)}: {e}{where}") from None
        print(f"PASS {label(chk, p)}" + (f" ({msg})" if msg else "") + where)
        return
    objs = _lookup(chk, namespace if namespace is not None else {})
    outputs = run_produce(chk, objs, p)
    note = outputs.get("note")
    try:
        msg = run_judge(chk, p, outputs)
    except CheckFailed as e:
        if note:
            raise CheckFailed(f"{e} [{note}]") from None
        raise CheckFailed(str(e)) from None
    print(f"PASS {label(chk, p)}" + (f" ({msg})" if msg else ""))
    if note:
        print(f"  note: {note}")

