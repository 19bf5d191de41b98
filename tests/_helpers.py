"""Builders several test files share."""
import os

import course_lib


def train_tiny(task, tmp_path_factory):
    """A tiny training run (32 environments, 3 iterations, seed 0) of ``task``; returns the ``TrainResult`` (a
    checkpoint to evaluate or export, not a policy that succeeds).

    Trained once per test session and shared by every test file that asks for it, in one xdist worker or several
    (under the session's temporary folder, with a lock): its run folder is only read, never written."""
    import pickle

    from filelock import FileLock  # a dependency of torch

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder; each worker's basetemp is a folder in it
    here = root / f"tiny_{task}"
    here.mkdir(exist_ok=True)
    with FileLock(str(root / f"tiny_{task}.lock")):
        if not (here / "result.pkl").exists():
            with open(os.devnull, "w") as quiet:
                r = course_lib.train(task, num_envs=32, iterations=3, seed=0, runs_dir=str(here / "runs"),
                                     progress=False, out=quiet)
            with open(here / "result.pkl.tmp", "wb") as f:
                pickle.dump(r, f)
            os.replace(here / "result.pkl.tmp", here / "result.pkl")
        with open(here / "result.pkl", "rb") as f:
            return pickle.load(f)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def solution_namespace(assignment: str, cells, edits=(), extra: str = "") -> dict:
    """The namespace the grader builds for ``assignment``: its preamble, then the solution cells ``cells`` (ids in
    ``solutions/src/<assignment>.py``, solution markers removed) with each ``(old, new)`` of ``edits`` applied (a
    wrong version; ``old`` must occur), then ``extra``. What a check-level test runs the checks on."""
    import re

    from course_lib.grading.core import preamble

    with open(os.path.join(ROOT, "solutions", "src", f"{assignment}.py")) as f:
        text = f.read()
    code = "\n".join(re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "",
                            text.split(f"# %% id={cell} solution\n", 1)[1].split("\n# %%", 1)[0], flags=re.M)
                     for cell in cells)
    for old, new in edits:
        assert old in code, old
        code = code.replace(old, new)
    ns: dict = {}
    exec(compile(preamble(assignment.split("_")[0]) + "\n" + code + "\n" + extra, "<solution cells>", "exec"), ns)
    return ns


def notebook_check_calls(assignment: str, hidden: bool | None = None) -> dict:
    """The ``check(...)`` calls of the test cells of ``solutions/src/<assignment>.py`` (the instructor's source, the
    one owner of the hidden cases): ``{check name: [params, ...]}`` in the order written, ``params`` the call's
    keyword arguments. ``hidden``: True = only the calls between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN
    TESTS``, False = only the others, None = all. Tests read the hidden seeds here instead of copying them."""
    import ast
    import re

    with open(os.path.join(ROOT, "solutions", "src", f"{assignment}.py")) as f:
        text = f.read()
    out: dict = {}
    for cell in re.split(r"^# %% ", text, flags=re.M)[1:]:
        if not re.match(r"id=\S+ tests\b", cell):
            continue
        in_hidden = False
        lines = cell.splitlines(keepends=True)
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("### BEGIN HIDDEN TESTS"):
                in_hidden = True
            elif line.startswith("### END HIDDEN TESTS"):
                in_hidden = False
            elif line.startswith("check("):
                source = line
                while True:  # a call may go on over several lines
                    try:
                        call = ast.parse(source).body[0].value
                        break
                    except SyntaxError:
                        i += 1
                        source += lines[i]
                if hidden is None or hidden == in_hidden:
                    params = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
                    out.setdefault(ast.literal_eval(call.args[0]), []).append(params)
            i += 1
    return out
