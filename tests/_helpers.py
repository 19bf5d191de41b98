"""Builders several test files share."""
import os

import course_lib


def train_tiny(task, tmp_path_factory):
    """A tiny training run (32 environments, 3 iterations, seed 0) of ``task`` in a fresh temporary folder named
    after it; returns the ``TrainResult`` (a checkpoint to evaluate or export, not a policy that succeeds)."""
    runs = tmp_path_factory.mktemp(task)
    with open(os.devnull, "w") as quiet:
        return course_lib.train(task, num_envs=32, iterations=3, seed=0, runs_dir=str(runs), progress=False, out=quiet)


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
