"""What a student meets (issue 13): figures that show in a fresh kernel, the ``course`` command where students type
it, training numbers that mean what they say, an install that says what it does, and no instructor tools in a
student's JupyterLab. The slow parts (whole notebooks, the browser) are in test_notebooks.py and
test_jupyterlab.py; these are the cheap checks."""
import json
import os
import sys

import pytest

from tests._figures import figure_cells, shows_a_picture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_in_fresh_kernel(tmp_path, *sources):
    """Execute code cells in a fresh kernel of the course (this Python, as `make lab` installs it); return the
    executed cells."""
    import nbformat
    from nbclient import NotebookClient

    from course_lib.grading.kernel import KERNEL_NAME, write_kernelspec

    write_kernelspec(str(tmp_path / "jupyter_path"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    env_before = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(tmp_path / "jupyter_path") + (os.pathsep + env_before if env_before else "")
    try:
        NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=120, resources={"metadata": {"path": str(tmp_path)}},
                       extra_arguments=[]).execute()
    finally:
        if env_before is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = env_before
    return nb.cells


# ------------------------------------------------------------------ 1. figures that show
METRICS = ("{'iteration': [1, 2, 3, 4], 'mean_reward': [-3.0, -2.0, -1.5, -1.0], "
           "'success_rate': [0.0, 0.1, 0.5, 0.9], 'episode_length': [500, 400, 200, 90]}")


@pytest.mark.slow
def test_library_figures_show_as_pictures_in_a_fresh_kernel(tmp_path):
    """Chapter 3's cells as they are (`axes = plot_...(...)` then `axes[0].figure`), and `display` of a figure,
    in a kernel where nothing imported pyplot: each output is a PNG, not `<Figure size ... with 3 Axes>`."""
    cells = _run_in_fresh_kernel(
        tmp_path,
        "import sys; print('matplotlib.pyplot' in sys.modules)",
        f"from course_lib.viz import plot_training_curves\n"
        f"axes = plot_training_curves({METRICS}, keys=('mean_reward', 'success_rate', 'episode_length'))\n"
        f"axes[0].figure",
        "import torch\nfrom course_lib.viz import plot_success_map\n"
        "axes = plot_success_map(torch.rand(50, 3), torch.rand(50) > 0.5)\naxes[0].figure",
        "from IPython.display import display\nfrom matplotlib.figure import Figure\n"
        "fig = Figure(); fig.add_subplot(1, 1, 1).plot([0, 1]); display(fig)",
        f"from course_lib.viz import LivePlot\nlive = LivePlot()\nfor i in range(1, 4): live({{'iteration': i, "
        f"'mean_reward': -i, 'success_rate': 0.1 * i, 'fps': 1000}})\nlive.show()",
    )
    assert cells[0].outputs[0]["text"].strip() == "False", "the test must start without pyplot (a fresh kernel)"
    for c in cells[1:]:
        assert shows_a_picture(c.outputs), (c.source, [o.get("data", o.get("text")) for o in c.outputs])
        assert "<Figure size" not in json.dumps([o.get("data", {}).get("text/plain") for o in c.outputs
                                                 if "image/png" not in o.get("data", {})])
    # and in nbgrader's feedback HTML (its template and exporter, as `course grade feedback` configures them)
    html = _feedback_html(cells)
    assert html.count("src=\"data:image/png;base64,") == len(cells) - 1
    assert "&lt;Figure size" not in html


def _feedback_html(cells) -> str:
    import nbformat
    from nbconvert.exporters import HTMLExporter
    from nbgrader.converters.generate_feedback import GenerateFeedback

    config = GenerateFeedback().config  # the HTMLExporter settings GenerateFeedback gives its exporter
    nb = nbformat.v4.new_notebook(cells=cells)
    resources = {"nbgrader": {"notebook": "figures", "score": 0, "max_score": 0, "late_penalty": 0}}
    html, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
    return html


def test_figure_formatter_keeps_the_inline_backends(monkeypatch):
    """Outside IPython nothing is registered; inside, an existing Figure formatter (the inline backend's SVG, say)
    is kept, and a missing one is added once."""
    from matplotlib.figure import Figure

    from course_lib.rl.plotting import _figure_png, show_figures_as_png

    if "IPython" not in sys.modules:
        assert show_figures_as_png() is False
    from IPython.core.formatters import DisplayFormatter

    class Shell:
        display_formatter = DisplayFormatter()

    shell = Shell()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    fmts = shell.display_formatter.formatters
    assert show_figures_as_png() is True
    assert fmts["image/png"].lookup_by_type(Figure) is _figure_png
    fig = Figure()
    fig.add_subplot(1, 1, 1).plot([0, 1])
    assert fmts["image/png"](fig)[:8] == b"\x89PNG\r\n\x1a\n"
    assert fmts["image/png"](Figure()) is None  # nothing drawn: nothing shown, as IPython's own

    shell2 = Shell()
    shell2.display_formatter = DisplayFormatter()
    svg = lambda f: "<svg/>"  # noqa: E731
    shell2.display_formatter.formatters["image/svg+xml"].for_type(Figure, svg)
    monkeypatch.setattr("IPython.get_ipython", lambda: shell2)
    assert show_figures_as_png() is True
    with pytest.raises(KeyError):
        shell2.display_formatter.formatters["image/png"].lookup_by_type(Figure)


def test_every_chapter_has_figure_cells_that_the_notebook_test_checks():
    """The figure cells the notebook test asserts on (tests/_figures.py) include chapter 3's two that returned a
    bare Figure, and every chapter has some."""
    found = {}
    for a in sorted(os.listdir(os.path.join(ROOT, "solutions"))):
        path = os.path.join(ROOT, "solutions", a, f"{a}.ipynb")
        if os.path.exists(path):
            with open(path) as f:
                cells = json.load(f)["cells"]
            found[a] = [("".join(cells[i]["source"])).strip().splitlines()[-1] for i in figure_cells(cells)]
    assert len(found) >= 6 and all(found.values()), found
    assert found["ch03_franka_reach"].count("axes[0].figure") == 2


def test_shows_a_picture_rejects_a_figure_printed_as_text():
    assert not shows_a_picture([{"output_type": "execute_result",
                                 "data": {"text/plain": "<Figure size 1080x280 with 3 Axes>"}}])
    assert shows_a_picture([{"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<F>"}}])
    assert shows_a_picture([{"output_type": "execute_result",
                             "data": {"text/html": '<div class="animation"><img id="_anim_img"></div>'}}])


# ------------------------------------------------------------------ 4. training numbers that mean what they say
def test_first_timeout_iteration():
    from course_lib.rl.observer import first_timeout_iteration

    assert first_timeout_iteration(500, 16) == 32  # step 500 is in iteration 32 (steps 497-512)
    assert first_timeout_iteration(40, 16) == 3 and first_timeout_iteration(32, 16) == 2
    assert first_timeout_iteration(None, 16) == 1 and first_timeout_iteration(0, 16) == 1


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory):
    """Cart-pole (episodes end by falling, success is reaching the time limit) and reach (episodes end early only by
    succeeding), each with a 40-step time limit: the first time-out can come in iteration 3 (16 steps each)."""
    import io

    import torch
    import yaml

    import course_lib
    from course_lib.rl.config import default_config_path

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    runs = {}
    try:
        for task in ("cartpole", "franka_reach"):
            # every first episode starts at step 0 (the reach task's default spreads them: see test_rl_train), so
            # that nothing ends in the first iteration and no time-out is possible before the third
            config = yaml.safe_load(open(default_config_path(task)))
            config["ppo"]["random_episode_start"] = False
            out = io.StringIO()
            r = course_lib.train(task, config=config, num_envs=32, iterations=5, seed=0, max_episode_length=40,
                                 print_interval=1, progress=False, out=out,
                                 runs_dir=str(tmp_path_factory.mktemp(task)))
            runs[task] = (r, out.getvalue())
    finally:
        torch.set_num_threads(threads)
    return runs


def _lines(text):
    return [ln for ln in text.splitlines() if ln.startswith("Iteration: ")]


def test_success_rate_is_counted_only_once_an_episode_can_time_out(short_runs):
    import csv

    r, out = short_runs["cartpole"]
    lines = _lines(out)
    # before iteration 3 only falls can end an episode: the rate would read 0.0% whatever the policy
    assert [("Success Rate: n/a" in ln) for ln in lines] == [True, True, False, False, False], out
    assert "Mean Reward: n/a" not in lines[0]  # falls ended episodes: the mean return is there
    # said once, in one sentence, with the iteration from which it is counted
    assert out.count("(Success Rate: counted from iteration 3, the first in which an episode can reach the 40-step "
                     "time limit") == 1, out
    rows = list(csv.DictReader(open(os.path.join(r.run_dir, "metrics.csv"))))
    assert [int(row["timeouts_possible"]) for row in rows] == [0, 0, 1, 1, 1]
    assert [m["timeouts_possible"] for m in r.metrics] == [0, 0, 1, 1, 1]
    # the raw rate stays in the file (chapter 4 reads it), the line shows the counted one: here the same iterations
    assert rows[0]["success_rate"] == "0.0"
    for ln, row in zip(lines[2:], rows[2:]):
        assert f"Success Rate: {100 * float(row['success_rate']):.1f}%" in ln, (ln, row)


def test_mean_reward_na_says_why_once(short_runs):
    _, out = short_runs["franka_reach"]
    lines = _lines(out)
    assert "Mean Reward: n/a" in lines[0], out  # nothing reaches its target in the first 16 steps
    assert out.count("(Mean Reward: n/a: no episode ended since the last line") == 1, out
    assert out.count("(Success Rate: counted from iteration 3") == 1, out
    assert "Success Rate: n/a" not in lines[2]  # the 40-step time-outs of iteration 3 are counted


def test_curves_draw_the_success_rate_only_where_it_is_counted():
    from matplotlib.figure import Figure

    from course_lib import viz

    m = {"iteration": [1, 2, 3, 4], "success_rate": [1.0, 1.0, 0.25, 0.5], "timeouts_possible": [0, 0, 1, 1],
         "mean_reward": [5.0, 4.0, -1.0, 0.0]}
    (ax,) = viz.plot_training_curves(m, keys=["success_rate"])
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [3, 4] and list(line.get_ydata()) == [25.0, 50.0]
    assert ax.get_title() == "success rate (%), from iteration 3"
    # without the column (an older run), as before
    (ax,) = viz.plot_training_curves({k: v for k, v in m.items() if k != "timeouts_possible"}, keys=["success_rate"])
    assert len(ax.get_lines()[0].get_xdata()) == 4
    live = viz.LivePlot(keys=("success_rate",), every_s=1e9)
    for i in range(4):
        live({k: v[i] for k, v in m.items()})
    live.update()
    assert list(live.lines["success_rate"].get_xdata()) == [3, 4]
    assert live.axes[0].get_title() == "success rate (%), from iteration 3"
    assert isinstance(live.fig, Figure)


def test_live_plot_from_the_trainer_masks_the_early_success_rate(short_runs):
    from course_lib import viz

    r, _ = short_runs["franka_reach"]
    live = viz.LivePlot(keys=("mean_reward", "success_rate"), every_s=1e9)
    for row in r.metrics:
        live(row)
    live.update()
    assert list(live.lines["success_rate"].get_xdata()) == [m["iteration"] for m in r.metrics
                                                             if m["timeouts_possible"] and m["episodes"]]


# ------------------------------------------------------------------ 2, 6. `make lab`: where students type, what it says
def _make_n(*args, env=None):
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no make")
    env = {k: v for k, v in (env or os.environ).items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.pop("VIRTUAL_ENV", None)
    env.pop("CONDA_PREFIX", None)
    r = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_make_lab_installs_once_and_says_what(tmp_path):
    """`make lab` installs (saying what, before the long downloads) only when pyproject.toml changed since."""
    stamp = tmp_path / "stamp"
    first = _make_n("lab", f"STAMP={stamp}")
    assert "Installing PyTorch (torch==" in first and "pip shows its progress" in first
    assert "Installing the course" in first and "pip install -q -e \".[lab]\"" in first.replace("'", "\"")
    assert f'touch "{stamp}"' in first
    assert first.index("Installing PyTorch") < first.index("pip install --progress-bar on")
    stamp.touch()
    os.utime(stamp, (os.path.getmtime(os.path.join(ROOT, "pyproject.toml")) + 10,) * 2)
    again = _make_n("lab", f"STAMP={stamp}")
    assert "pip install" not in again and "serve-lab" in again, again
    changed = _make_n("-W", "pyproject.toml", "lab", f"STAMP={stamp}")
    assert "pip install -q -e" in changed


def test_make_lab_serves_the_notebooks_folder_with_course_on_the_terminals_path():
    """The server and its terminals run in notebooks/ (where `course check <chapter>/<chapter>.ipynb` is typed),
    with the environment's bin/ on PATH and a non-login shell (a login shell's /etc/profile resets PATH), and the
    students' Jupyter settings from notebooks/."""
    out = _make_n("serve-lab", "PY=.venv/bin/python")
    assert 'cd "notebooks"' in out
    assert 'PATH="$(dirname "$py"):$PATH"' in out
    assert f'JUPYTER_CONFIG_PATH="{ROOT}/notebooks' in out
    assert "--ServerApp.root_dir=." in out and '\\"shell_command\\"' in out


def test_every_course_check_the_notebooks_give_names_a_notebook_from_the_notebooks_folder():
    import re

    for a in sorted(os.listdir(os.path.join(ROOT, "notebooks"))):
        path = os.path.join(ROOT, "notebooks", a, f"{a}.ipynb")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            text = "\n".join("".join(c["source"]) for c in json.load(f)["cells"])
        commands = re.findall(r"`course check ([^`]+)`", text)
        assert commands, f"{a}: no `course check` command"
        for notebook in commands:
            assert os.path.isfile(os.path.join(ROOT, "notebooks", notebook)), (a, notebook)
            assert "JupyterLab terminal" in text


# ------------------------------------------------------------------ 7. students see student tools
STUDENT_HIDDEN = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                  "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:menu"}


def _disabled_lab_plugins(monkeypatch, tmp_path, config_path):
    from jupyterlab_server.config import get_static_page_config

    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "user"))  # no user-level settings
    if config_path:
        monkeypatch.setenv("JUPYTER_CONFIG_PATH", config_path)
    else:
        monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    disabled = get_static_page_config(level="all").get("disabledExtensions", {})
    return {k for k, v in disabled.items() if v} if isinstance(disabled, dict) else set(disabled)


def test_students_jupyterlab_hides_nbgraders_instructor_tools(monkeypatch, tmp_path):
    """With notebooks/ on JUPYTER_CONFIG_PATH (`make lab`, and the browser test), Formgrader, Create Assignment,
    Course List and the Nbgrader menu are disabled; the Validate button is not. Without it (the instructor's
    `make instructor-lab`), nothing of nbgrader's is."""
    student = _disabled_lab_plugins(monkeypatch, tmp_path, os.path.join(ROOT, "notebooks"))
    assert STUDENT_HIDDEN <= student, student
    assert "@jupyter/nbgrader:validate-assignment" not in student and "@jupyter/nbgrader" not in student
    instructor = _disabled_lab_plugins(monkeypatch, tmp_path, None)
    assert not {p for p in instructor if p.startswith("@jupyter/nbgrader")}, instructor
    out = _make_n("instructor-lab", f"STAMP={tmp_path / 'stamp'}", "-o", str(tmp_path / "stamp"))
    recipe = out[out.index("cd autograder"):]
    assert "JUPYTER_CONFIG_PATH" not in recipe and "--ServerApp.root_dir=.." in recipe
