"""The grade, decided outside the student's kernel.

When nbgrader autogrades a notebook, its test cells run in the kernel that
also ran the student's code, and that code can change anything there: a
student who writes ``course_lib.grading.check = lambda *a, **k: None`` would
pass every test cell. So after the kernel has run the notebook, the grader
(:class:`course_lib.grading.nbgrader_ext.SandboxedGrade`, or ``course
check``) runs every ``check(...)`` of every test cell again, in two fresh
interpreters started with ``python -I`` and a minimal environment:

1. ``produce``: the chapter's preamble (its imports cell) and the
   student's *solution cells* (nothing else: no test cell, no training
   cell), then each check's ``produce`` on seeded cases. It writes plain
   tensors to a file and decides nothing.
2. ``judge``: no student code at all. It regenerates the cases from their
   seeds, computes the reference, loads step 1's tensors with
   ``weights_only=True`` and compares; trained policies are evaluated here,
   on the reference task, from their checkpoint files.

The test cell's source, and so which checks run with which (hidden)
parameters, comes from the instructor's copy: nbgrader restores it before
executing (``OverwriteCells``), whatever the student did to it.

    python -I -m course_lib.grading.isolated produce REQUEST.json OUT.pt
    python -I -m course_lib.grading.isolated judge REQUEST.json OUT.pt
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

__all__ = ["find_checks", "collect_request", "recheck", "RecheckResult", "main"]


# ------------------------------------------------------------------ reading test cells
def _is_check_func(func) -> bool:
    return (isinstance(func, ast.Name) and func.id == "check") or \
        (isinstance(func, ast.Attribute) and func.attr == "check")


def find_checks(source: str):
    """The ``check("name", globals(), **params)`` calls of a test cell, as ``[(name, params), ...]``.

    Returns None when the cell holds anything but imports, comments and
    such calls with literal arguments: then it is not a pure check cell and
    its kernel result stands.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    calls = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and _is_check_func(stmt.value.func):
            call = stmt.value
            if not call.args or not isinstance(call.args[0], ast.Constant) or not isinstance(call.args[0].value, str):
                return None
            try:
                params = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg is not None}
            except ValueError:
                return None
            calls.append((call.args[0].value, params))
            continue
        return None
    return calls or None


def _nbgrader(cell) -> dict:
    md = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    return md.get("nbgrader", {}) or {}


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def collect_request(nb) -> dict | None:
    """What to re-run for the notebook ``nb`` (an nbformat node or dict): None if it has no check cells."""
    from .core import PREAMBLES, assignment_of, get

    cells, checks = [], []
    assignments = set()
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        meta = _nbgrader(cell)
        if meta.get("solution") and not meta.get("grade"):
            cells.append({"index": i, "source": _source(cell)})
        elif meta.get("grade"):
            found = find_checks(_source(cell))
            if not found:
                continue
            for k, (name, params) in enumerate(found):
                chk = get(name)
                assignments.add(assignment_of(name))
                checks.append({"id": f"{i}:{k}", "cell": i, "grade_id": meta.get("grade_id"), "name": name,
                               "params": {**chk.defaults, **params}, "kind": chk.kind})
    if not checks:
        return None
    if len(assignments) != 1:
        raise ValueError(f"a notebook's checks must come from one chapter, found {sorted(assignments)}")
    (assignment,) = assignments
    return {"preamble": PREAMBLES[assignment], "cells": cells, "checks": checks}


# ------------------------------------------------------------------ step 1: produce (student code)
class _CellTimeout(Exception):
    pass


def _alarm(seconds):
    def handler(signum, frame):
        raise _CellTimeout(f"took more than {seconds:g} s")

    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, handler)
        signal.alarm(int(max(1, seconds)))


def _disarm():
    if hasattr(signal, "SIGALRM"):
        signal.alarm(0)


def _run_cells(preamble: str, cells: list, cell_timeout: float):
    """Run the preamble and the solution cells like a kernel would (IPython, magics included)."""
    import contextlib
    import io

    errors = []
    try:
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance(colors="NoColor") if hasattr(InteractiveShell, "instance") else None
    except Exception:  # IPython missing: plain exec
        shell = None
    ns = shell.user_ns if shell is not None else {"__name__": "__main__"}

    def run(src, label):
        sink = io.StringIO()
        _alarm(cell_timeout)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                if shell is not None:
                    r = shell.run_cell(src, store_history=False, silent=True)
                    err = r.error_before_exec or r.error_in_exec
                    if err is not None:
                        raise err
                else:
                    exec(compile(src, label, "exec"), ns)
        except BaseException as e:  # noqa: BLE001 - a student's cell may raise anything, SystemExit included
            from .core import describe_exception

            return describe_exception(e)
        finally:
            _disarm()
        return None

    err = run(preamble, "<preamble>")
    if err:
        errors.append({"index": -1, "error": err})
    for c in cells:
        err = run(c["source"], f"<solution cell {c['index']}>")
        if err:
            errors.append({"index": c["index"], "error": err})
    return ns, errors


def produce_main(request_path: str, out_path: str) -> int:
    import torch

    torch.set_num_threads(1)
    from .core import CheckFailed, describe_exception, get, run_produce

    with open(request_path) as f:
        req = json.load(f)
    ns, errors = _run_cells(req["preamble"], req["cells"], float(req.get("cell_timeout", 60)))
    results = {}
    for c in req["checks"]:
        if c["kind"] != "compare":
            continue
        chk = get(c["name"])
        missing = [n for n in chk.needs if n not in ns]
        if missing:
            results[c["id"]] = {"error": f"{', '.join(missing)} is not defined by your solution cells", "failed": True}
            continue
        _alarm(float(req.get("check_timeout", 60)))
        try:
            results[c["id"]] = run_produce(chk, {n: ns[n] for n in chk.needs}, c["params"])
        except BaseException as e:  # noqa: BLE001 - timeouts, SystemExit from student code
            results[c["id"]] = {"error": describe_exception(e), "failed": isinstance(e, CheckFailed)}
        finally:
            _disarm()
    torch.save({"cells": errors, "results": results}, out_path)
    return 0


# ------------------------------------------------------------------ step 2: judge (no student code)
def _plain(outputs):
    """Only tensors, strings and numbers from the student's process are believed."""
    import torch

    if not isinstance(outputs, dict):
        return {"error": "the solution process wrote no result for this check", "failed": True}
    clean = {}
    for k, v in outputs.items():
        if isinstance(k, str) and (torch.is_tensor(v) or isinstance(v, (str, int, float, bool))):
            clean[k] = v
    return clean


def judge_main(request_path: str, produced_path: str | None) -> int:
    import torch

    torch.set_num_threads(1)
    from .core import CheckFailed, get, label, run_judge
    from .evaluate_policy import policy_result

    if request_path == "-":  # from the grader, through a pipe: no file the student's process could rewrite
        req = json.load(sys.stdin)
    else:
        with open(request_path) as f:
            req = json.load(f)
    produced, produce_error = {}, req.get("produce_error")
    if produced_path and os.path.exists(produced_path) and not produce_error:
        try:
            produced = torch.load(produced_path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - a tampered or truncated file
            produce_error = f"its result file could not be read ({type(e).__name__})"
    if not isinstance(produced, dict):
        produced, produce_error = {}, "its result file holds no result"
    results = produced.get("results", {}) if isinstance(produced.get("results", {}), dict) else {}
    verdicts = {}
    for c in req["checks"]:
        chk = get(c["name"])
        hidden = bool(c["params"].get("hidden"))
        try:
            if c["kind"] == "policy":
                p = c["params"]
                result = policy_result(p, fresh=False)  # this judge is already a fresh process
                try:
                    msg = chk.judge(p, result)
                except CheckFailed as e:
                    raise CheckFailed(f"{label(chk, p)}: {e}") from None
            else:
                if produce_error:
                    raise CheckFailed(f"{label(chk, c['params'])}: your solution cells could not be run in a "
                                      f"fresh process: {produce_error}")
                msg = run_judge(chk, c["params"], _plain(results.get(c["id"])), quote_student=not req.get("untrusted"))
            verdicts[c["id"]] = {"ok": True, "message": f"PASS {label(chk, c['params'])}" + (f" ({msg})" if msg else "")}
        except CheckFailed as e:
            verdicts[c["id"]] = {"ok": False, "message": str(e)}
        except Exception as e:  # noqa: BLE001 - a bug in a check must not lose the other verdicts
            from .core import describe_exception

            what = "hidden test" if hidden else c["name"]
            verdicts[c["id"]] = {"ok": False, "message": f"{label(chk, c['params'])}: the {what} could not judge "
                                                         f"your result ({describe_exception(e)})"}
    cells = produced.get("cells", []) if isinstance(produced.get("cells", []), list) else []
    print(json.dumps({"verdicts": verdicts, "cell_errors": cells, "produce_error": produce_error}))
    return 0


# ------------------------------------------------------------------ driver
@dataclass
class RecheckResult:
    """Verdicts per check id (``"<cell index>:<k>"``) and per cell index."""

    verdicts: dict = field(default_factory=dict)
    cell_errors: list = field(default_factory=list)
    produce_error: str | None = None
    seconds: float = 0.0
    produce_log: str = ""  #: the end of the re-run's stderr when it failed (the instructor's log, not a verdict)

    def cell_verdict(self, index: int):
        """(ok, [messages]) for the test cell at ``index``; None if it has no checks."""
        mine = [v for k, v in self.verdicts.items() if int(k.split(":")[0]) == index]
        if not mine:
            return None
        return all(v["ok"] for v in mine), [v["message"] for v in mine]


def _run(args, cwd, timeout, stdin_text=None):
    """Run a grading step in a fresh interpreter, in a session of its own; when it returns (or times out),
    every process it left behind in that session is killed, so nothing of the student's keeps running
    into the next step."""
    from .evaluate_policy import clean_env, fresh_python

    # output to files, not pipes: a process left behind would hold a pipe open and make us wait for it
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(fresh_python("course_lib.grading.isolated", *args), cwd=cwd, env=clean_env(),
                                stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
                                stdout=out, stderr=err, text=True, start_new_session=True)
        try:
            if stdin_text is not None:
                try:
                    proc.stdin.write(stdin_text)
                    proc.stdin.close()
                except BrokenPipeError:  # it died before reading: its exit status says why
                    pass
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_session(proc)
            proc.wait()
            raise
        finally:
            _kill_session(proc)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())


def _kill_session(proc) -> None:
    if hasattr(os, "killpg"):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    else:  # pragma: no cover - Windows
        proc.kill()


def _run_sandboxed(cfg, args, io_dir, timeout):
    """Step 1 in the submission's sandbox (:mod:`.sandbox`): ``io_dir`` (the request and the result) is bound in."""
    import dataclasses

    from .evaluate_policy import fresh_python
    from .sandbox import describe_stop, run

    cfg = dataclasses.replace(cfg, rw_binds=[*cfg.rw_binds, io_dir],
                              limits=dataclasses.replace(cfg.limits, wall_s=float(timeout)))
    r = run(cfg, fresh_python("course_lib.grading.isolated", *args))
    if r.stop == "time":
        raise subprocess.TimeoutExpired(args, timeout)
    if r.stop:
        return subprocess.CompletedProcess(args, r.returncode or 1, r.stdout,
                                           r.stderr + f"\nthe sandbox stopped it: {describe_stop(r.stop, cfg.limits)}")
    return subprocess.CompletedProcess(args, r.returncode, r.stdout, r.stderr)


def recheck(nb, notebook_dir: str, produce_timeout: float = 300.0, judge_timeout: float = 900.0,
            cell_timeout: float = 60.0, request: dict | None = None, sandbox=None) -> RecheckResult | None:
    """Run every check of ``nb`` in fresh processes (see the module's docstring). None: no checks.

    ``sandbox``: a :class:`course_lib.grading.sandbox.SandboxConfig` whose sandbox runs step 1 (the student's
    code); the judge never runs in it."""
    req = request if request is not None else collect_request(nb)
    if req is None:
        return None
    t0 = time.perf_counter()
    req = dict(req, cell_timeout=cell_timeout, check_timeout=cell_timeout)
    with tempfile.TemporaryDirectory(prefix="course_grading_") as tmp:
        req_path, out_path = os.path.join(tmp, "request.json"), os.path.join(tmp, "produced.pt")
        produce_error, produce_log = None, ""
        if any(c["kind"] == "compare" for c in req["checks"]):
            if sandbox is not None:
                io_dir = os.path.join(tmp, "io")
                os.mkdir(io_dir)
                req_path, out_path = os.path.join(io_dir, "request.json"), os.path.join(io_dir, "produced.pt")
            with open(req_path, "w") as f:
                json.dump(req, f)
            try:
                if sandbox is not None:
                    r = _run_sandboxed(sandbox, ["produce", req_path, out_path], io_dir, produce_timeout)
                else:
                    r = _run(["produce", req_path, out_path], notebook_dir, produce_timeout)
                if r.returncode != 0 or not os.path.exists(out_path):
                    tail = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
                    if sandbox is not None and not tail.startswith("the sandbox stopped it"):
                        tail = f"exit status {r.returncode}"  # its stderr is the student's to write: not quoted
                    produce_error = f"the process stopped early ({tail[:300]})"
                    produce_log = r.stderr[-2000:]  # for the instructor's log only, never a verdict
            except subprocess.TimeoutExpired:
                produce_error = f"it did not finish within {produce_timeout:.0f} s"
        req["produce_error"] = produce_error
        req["untrusted"] = sandbox is not None  # autograding: no text of the student's process in a verdict
        # the judge runs in a folder of its own (the notebook's folder is the student's: a module planted there
        # must not be importable), with the checkpoints' absolute paths
        judge_dir = tempfile.mkdtemp(prefix="course_judge_")
        for k, c in enumerate(req["checks"]):
            if c["kind"] == "policy" and "checkpoint" in c["params"]:
                c["params"] = dict(c["params"], checkpoint=_judged_copy(notebook_dir, c["params"]["checkpoint"],
                                                                        os.path.join(judge_dir, f"file{k}")))
        try:
            r = _run(["judge", "-", out_path], judge_dir, judge_timeout, stdin_text=json.dumps(req))
            line = next((ln for ln in reversed(r.stdout.strip().splitlines()) if ln.startswith("{")), None)
            data = json.loads(line) if line else None
        except json.JSONDecodeError:
            data = None
        except subprocess.TimeoutExpired:
            data, r = None, None
        finally:
            shutil.rmtree(judge_dir, ignore_errors=True)
        if data is None:
            why = "timed out" if r is None else (r.stderr.strip().splitlines() or ["no output"])[-1][:300]
            data = {"verdicts": {}, "cell_errors": [], "produce_error": produce_error, "why": why}
        # every check the grader asked for gets a verdict: one that came back without is a failure
        verdicts = data.get("verdicts") if isinstance(data.get("verdicts"), dict) else {}
        for c in req["checks"]:
            v = verdicts.get(c["id"])
            if not (isinstance(v, dict) and isinstance(v.get("ok"), bool) and isinstance(v.get("message"), str)):
                verdicts[c["id"]] = {"ok": False, "message": f"{get_behaviour(c['name'])}: the grader's judge "
                                                             f"process gave no verdict ({data.get('why', 'no result')})"}
        data["verdicts"] = verdicts
    return RecheckResult(verdicts=data["verdicts"], cell_errors=data.get("cell_errors", []),
                         produce_error=data.get("produce_error"), seconds=time.perf_counter() - t0,
                         produce_log=produce_log)


def _judged_copy(folder: str, rel: str, dest_dir: str) -> str:
    """The file ``rel`` of the submission's folder, copied where only the judge looks; a link that leads out
    of the folder (to another student's file, say) is not followed: the judge then sees no file."""
    folder = os.path.realpath(folder)
    src = os.path.realpath(os.path.join(folder, rel))
    os.makedirs(dest_dir, exist_ok=True)
    dest = os.path.join(dest_dir, os.path.basename(rel) or "file")
    if os.path.commonpath([folder, src]) == folder and os.path.isfile(src):
        shutil.copyfile(src, dest)
    return dest


def get_behaviour(name: str) -> str:
    from .core import get

    return get(name).behaviour


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) < 2 or argv[0] not in ("produce", "judge"):
        print("usage: python -I -m course_lib.grading.isolated produce|judge REQUEST.json OUT.pt", file=sys.stderr)
        return 2
    import warnings

    warnings.simplefilter("ignore")
    if argv[0] == "produce":
        return produce_main(argv[1], argv[2])
    return judge_main(argv[1], argv[2] if len(argv) > 2 else None)


if __name__ == "__main__":
    sys.exit(main())
