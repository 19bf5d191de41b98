"""Which notebook cells are meant to show a figure, and whether they did.

A figure cell is a code cell that draws: it calls ``plt.show()``, one of course_lib's ``plot_...`` functions,
``animate_rollout`` (an HTML animation) or ``LivePlot``, or ends by returning a figure (``axes[0].figure``,
``fig``). Such a cell must put a picture among its outputs: an ``image/png`` (or another image) or the HTML of an
animation (course_lib.viz's JavaScript player, ``<img>`` frames). ``<Figure size ... with 3 Axes>`` in text is not
a picture: it is what a bare matplotlib Figure prints in a fresh kernel when nothing renders it.

:func:`keep_outputs` makes an ``nbgrader`` run that executes a notebook (``validate``, ``autograde``) write every
executed cell's outputs to a file, with no second execution: a config file on ``JUPYTER_CONFIG_PATH`` sets
nbclient's ``on_cell_executed`` hook of nbgrader's ``Execute`` preprocessor.
"""
from __future__ import annotations

import json
import os
import re

FIGURE_CODE = re.compile(r"plt\.show\(\)|(?<![\w.])plot_\w+\(|animate_rollout\(|LivePlot\(|"
                         r"^(\w+\[0\]\.figure|fig)\s*$", re.M)
IMAGES = ("image/png", "image/jpeg", "image/svg+xml")

_HOOK = '''# written by tests/_figures.py: keep every executed cell's outputs. nbgrader's Execute overrides nbclient's
# on_cell_executed hook with a method, so on_cell_start keeps each cell (its outputs are filled in place) and the
# outputs are written when nbgrader exits.
import atexit as _atexit
import json as _json

c = get_config()  # noqa: F821
_started = {{}}


def _keep_cell(cell, cell_index, **_):
    _started[cell_index] = cell  # a retried cell: its last execution


def _write_outputs():  # the file may be loaded twice: only the copy whose hook ran writes
    if not _started:
        return
    with open({path!r}, "a") as f:
        for i, cell in sorted(_started.items()):
            f.write(_json.dumps({{"index": i, "source": cell.source, "outputs": cell.get("outputs", [])}}) + "\\n")


_atexit.register(_write_outputs)
c.Execute.on_cell_start = _keep_cell
'''


def figure_cells(cells) -> list:
    """Indices of the code cells (nbformat cells or dicts with ``cell_type`` and ``source``) meant to show a
    figure."""
    out = []
    for i, c in enumerate(cells):
        src = c["source"] if isinstance(c["source"], str) else "".join(c["source"])
        if c["cell_type"] == "code" and FIGURE_CODE.search(src):
            out.append(i)
    return out


def shows_a_picture(outputs) -> bool:
    """Whether a cell's outputs hold a picture: an image, or an HTML animation / image."""
    for o in outputs:
        data = o.get("data", {})
        if any(m in data for m in IMAGES):
            return True
        html = data.get("text/html", "")
        html = "".join(html) if isinstance(html, list) else html
        if "<img" in html or "class=\"animation\"" in html:
            return True
    return False


def keep_outputs(monkeypatch, folder) -> str:
    """Prepend ``folder`` (with an ``nbgrader_config.py`` that records outputs) to ``JUPYTER_CONFIG_PATH`` for
    the processes this test starts; returns the path of the JSON-lines file the executed cells go to."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "executed_cells.jsonl")
    with open(os.path.join(folder, "nbgrader_config.py"), "w") as f:
        f.write(_HOOK.format(path=path))
    old = os.environ.get("JUPYTER_CONFIG_PATH")
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", folder + (os.pathsep + old if old else ""))
    return path


def assert_figures_show(notebook_path, outputs_path) -> int:
    """Every figure cell of the notebook at ``notebook_path`` showed a picture in the execution recorded at
    ``outputs_path`` (by :func:`keep_outputs`). Returns the number of figure cells checked."""
    with open(notebook_path) as f:
        cells = json.load(f)["cells"]
    wanted = figure_cells(cells)
    assert wanted, f"{notebook_path}: no cell meant to show a figure was found"
    assert os.path.exists(outputs_path), (f"no executed cells were recorded in {outputs_path}: nbgrader did not "
                                          "read the config file put on JUPYTER_CONFIG_PATH")
    executed = {}
    with open(outputs_path) as f:
        for line in f:
            rec = json.loads(line)
            executed[rec["index"]] = rec  # the last execution of a cell counts (nbgrader may retry)
    missing = []
    for i in wanted:
        rec = executed.get(i)
        if rec is None:
            missing.append(f"cell {i} was not executed")
        elif not shows_a_picture(rec["outputs"]):
            text = " | ".join("".join(o.get("data", {}).get("text/plain", o.get("text", "")))[:120]
                              for o in rec["outputs"])
            missing.append(f"cell {i} ({rec['source'].strip().splitlines()[-1][:60]!r}) shows no picture; its "
                           f"outputs: {text or 'none'}")
    assert not missing, f"{os.path.basename(notebook_path)}: " + "; ".join(missing)
    return len(wanted)


def assert_ran_clean(nb) -> int:
    """An executed notebook (an nbformat node, e.g. an autograded one, which keeps its outputs) ran as
    ``nbgrader validate --Validator.validate_all=True`` requires: no code cell has an error or a stderr output
    (nbgrader's own rule, ``Validator._get_failed_cells``), and every figure cell shows a picture. Returns the
    number of figure cells checked."""
    failed = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        for o in c.get("outputs", []):
            if o.output_type == "error":
                failed.append(f"cell {i}: {o.get('ename', '')} {o.get('evalue', '')}"[:240])
            elif o.output_type == "stream" and o.get("name") == "stderr":
                failed.append(f"cell {i}: stderr: {o.get('text', '')}"[:240])
    assert not failed, "cells with an error or stderr output: " + "; ".join(failed)
    wanted = figure_cells(nb.cells)
    assert wanted, "no cell meant to show a figure was found"
    blank = [i for i in wanted if not shows_a_picture(nb.cells[i].get("outputs", []))]
    assert not blank, f"figure cells that show no picture: {blank}"
    return len(wanted)
