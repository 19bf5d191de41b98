"""What a student sees when checking their work (issue 13, item 5): ``course check`` says where it is while the
notebook runs and ends with the score, without the kernel's log on the terminal; a failed ``check()`` in a test
cell shows the message and the student's own line, never course_lib's frames."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _course_kernel_env(tmp_path) -> dict:
    from course_lib.grading.kernel import write_kernelspec

    write_kernelspec(str(tmp_path / "jupyter_path"))
    env = dict(os.environ)
    env["JUPYTER_PATH"] = str(tmp_path / "jupyter_path") + (os.pathsep + env["JUPYTER_PATH"]
                                                             if env.get("JUPYTER_PATH") else "")
    return env


@pytest.mark.slow
def test_a_failed_check_shows_the_message_and_the_students_line_only(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    from course_lib.grading.kernel import KERNEL_NAME

    monkeypatch.setenv("JUPYTER_PATH", _course_kernel_env(tmp_path)["JUPYTER_PATH"])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in (
        "from course_lib.grading import check",
        "check('ch01.reach_reward', globals())",  # reach_reward is not defined: CheckFailed
        "1 / 0",  # other errors keep IPython's usual traceback
    )])
    NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=120, allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    err = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert len(err) == 1 and err[0].ename == "CheckFailed"  # still an error: nbgrader scores the cell 0
    assert "reach_reward is not defined" in err[0].evalue
    tb = ANSI.sub("", "\n".join(err[0].traceback))
    assert "reach_reward is not defined" in tb
    assert "check('ch01.reach_reward', globals())" in tb  # the student's line
    assert "course_lib/grading" not in tb and "core.py" not in tb and "_lookup" not in tb, tb
    other = ANSI.sub("", "\n".join(nb.cells[2].outputs[0].traceback))
    assert "ZeroDivisionError" in other and "1 / 0" in other


@pytest.mark.slow
def test_course_check_shows_progress_and_the_score_without_the_kernels_log(tmp_path):
    import nbformat

    from course_lib.grading.kernel import DISPLAY_NAME, KERNEL_NAME

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# a chapter"),
        nbformat.v4.new_code_cell("# Setup\nx = 1"),
        nbformat.v4.new_code_cell("print(x + 1)"),
    ], metadata={"kernelspec": {"name": KERNEL_NAME, "display_name": DISPLAY_NAME, "language": "python"}})
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    r = subprocess.run([sys.executable, "-m", "course_lib.grading.cli", "check", "nb.ipynb"], cwd=tmp_path,
                       env=_course_kernel_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 code cells" in r.stdout
    assert re.search(r"cell 1/2 .*# Setup", r.stdout) and re.search(r"cell 2/2 .*print\(x \+ 1\)", r.stdout), r.stdout
    assert r.stdout.rstrip().endswith("Score: 0/0"), r.stdout
    assert "without encryption" not in r.stdout + r.stderr
    assert "Warning" not in r.stderr, r.stderr
