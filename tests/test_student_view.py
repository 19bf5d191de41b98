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
