"""A hosted notebook service (issue 13, point 8): Jupyter with its own PyTorch, no `make`, no nbgrader.

The first cell of every notebook names the one command that installs the course there (the student package's
wheel, or the repository), with the `hosted` extra, which keeps the installed PyTorch and brings no nbgrader or
JupyterLab; and the notebooks' checks give their feedback without nbgrader. (On the GPU machine, with its own
CUDA PyTorch: benchmarks/RESULTS.md, "Hosted notebooks".)
"""
import os
import subprocess
import sys
import textwrap

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHAPTERS = sorted(d for d in os.listdir(os.path.join(ROOT, "notebooks")) if d.startswith("ch0"))


def pyproject(path=os.path.join(ROOT, "pyproject.toml")) -> dict:
    """The project table of a pyproject.toml (tomllib: Python 3.11+; on 3.10 tomli, or these tests skip)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with open(path, "rb") as f:
        return tomllib.load(f)["project"]


def environment_cell(chapter: str) -> str:
    nb = nbformat.read(os.path.join(ROOT, "notebooks", chapter, f"{chapter}.ipynb"), as_version=4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "environment")


def run_without_course_lib(source: str, cwd) -> str:
    """Run a cell where course_lib cannot be imported (no site-packages: python -I -S); return its error."""
    r = subprocess.run([sys.executable, "-I", "-S", "-c", source], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, r.stdout
    return r.stderr


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_first_cell_names_the_install_command_in_the_student_package(chapter, tmp_path):
    course = tmp_path / "course"  # the layout of `course grade package`'s zip
    (course / "wheels").mkdir(parents=True)
    (course / "wheels" / "course_lib-0.1.0-py3-none-any.whl").write_bytes(b"")
    (course / chapter).mkdir()
    err = run_without_course_lib(environment_cell(chapter), course / chapter)
    assert "ModuleNotFoundError: course_lib is not installed in this kernel" in err, err
    assert 'run `%pip install "../wheels/course_lib-0.1.0-py3-none-any.whl[hosted]"` in a cell' in err, err


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_first_cell_names_the_install_command_in_the_repository(chapter):
    err = run_without_course_lib(environment_cell(chapter), os.path.join(ROOT, "notebooks", chapter))
    assert 'run `%pip install -e "../..[hosted]"` in a cell' in err, err
    # ../.. from a chapter's folder is the repository, whose pyproject has that extra
    assert "hosted" in pyproject(os.path.join(ROOT, "notebooks", chapter, "..", "..", "pyproject.toml"))[
        "optional-dependencies"]


def test_the_hosted_extra_keeps_pytorch_and_brings_no_nbgrader_or_server():
    project = pyproject()
    hosted = [r.split(">")[0].split("=")[0].split("<")[0].strip().lower()
              for r in project["optional-dependencies"]["hosted"]]
    assert not {"nbgrader", "jupyterlab", "notebook", "torch"} & set(hosted), hosted
    lab = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in project["optional-dependencies"]["lab"]}
    assert set(hosted) <= lab, "what a hosted notebook needs, `make lab` installs too"
    torch_req = next(r for r in project["dependencies"] if r.startswith("torch"))
    assert torch_req.startswith("torch>="), "a lower bound only: pip keeps the service's own PyTorch build"


BLOCK = """
import sys
# a hosted notebook service: Jupyter, but neither nbgrader nor JupyterLab's server (None in sys.modules: an import
# raises ModuleNotFoundError, importlib.util.find_spec says None)
for _name in ("nbgrader", "jupyterlab", "jupyter_server"):
    sys.modules[_name] = None
"""


def test_the_checks_give_feedback_without_nbgrader(tmp_path):
    """Chapter 2's cells as a student fills them in (the first cell, the imports, the solution, every visible test
    cell; not the training), in a kernel without nbgrader: each test says PASS, and a wrong answer says FAIL."""
    nb = nbformat.read(os.path.join(ROOT, "tests", "submissions", "ch02_cartpole", "solution.ipynb"), as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    keep = [c.source for c, g in zip(nb.cells, ids) if g in ("environment", "imports", "cartpole_task")
            or (g or "").startswith("test_") and g != "test_policy"]
    cells = "\n\n".join(keep)
    wrong = cells.replace("torch.stack((q[:, 0], qd[:, 0], q[:, 1], qd[:, 1]), dim=-1)",
                          "torch.stack((q[:, 0], q[:, 1], qd[:, 0], qd[:, 1]), dim=-1)")
    assert wrong != cells
    code = BLOCK + textwrap.dedent(f"""
        import traceback
        for name, source in (("right", {cells!r}), ("wrong", {wrong!r})):
            print("==", name)
            try:
                exec(compile(source, name, "exec"), {{"__name__": "__main__"}})
            except AssertionError as e:
                print("FAIL", str(e)[:300])
        import importlib.util
        assert importlib.util.find_spec("nbgrader") is None
        """)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    right, wrong_out = r.stdout.split("== wrong")
    assert "nbgrader is not installed: no Validate button and no `course check`; the test cells still say" in right
    assert sum(line.startswith("PASS ") for line in right.splitlines()) == 6, right
    assert "FAIL observations are" in wrong_out, wrong_out[-2000:]
