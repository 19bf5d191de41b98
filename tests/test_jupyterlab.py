"""JupyterLab for real: the course's kernel, nbgrader's extensions and ipywidgets in a headless browser.

Starts JupyterLab on a free localhost port (the course's kernel on JUPYTER_PATH, the students' nbgrader
settings from notebooks/ on JUPYTER_CONFIG_PATH, as `make lab` does), opens chapter 2's student notebook as a
student hands it in (tests/submissions/ch02_cartpole/solution.ipynb: the release, filled in) in Debian's
Chromium driven by Playwright, runs all cells from the Run menu, and checks that outputs, plots and a widget
(the training progress bar) appear; then clicks nbgrader's Validate button on chapter 1 and reads its verdict.

Needs Chromium (`apt-get install -y chromium`) and the `playwright` package (its browsers are not downloaded:
the system Chromium is used). Without them the test is skipped, unless COURSE_REQUIRE_BROWSER=1 (CI) makes
that a failure.
"""
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.slow


def _need(what):
    if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{what} (COURSE_REQUIRE_BROWSER=1)")
    pytest.skip(what)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _need("playwright is not installed (pip install playwright; no browser download needed)")
    if not os.path.exists(CHROMIUM):
        _need(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from course_lib.grading.kernel import write_kernelspec

    tmp = tmp_path_factory.mktemp("lab")
    work = tmp / "notebooks"
    work.mkdir()
    shutil.copy(os.path.join(ROOT, "tests", "submissions", "ch02_cartpole", "solution.ipynb"),
                work / "ch02_cartpole.ipynb")
    shutil.copy(os.path.join(ROOT, "tests", "submissions", "ch01_setup", "solution.ipynb"), work / "ch01_setup.ipynb")
    write_kernelspec(str(tmp / "jupyter_path"))
    settings = tmp / "settings"
    for ext, name, value in (("@jupyterlab/notebook-extension", "tracker", {"windowingMode": "none"}),
                             ("@jupyterlab/apputils-extension", "notification", {"fetchNews": "false",
                                                                                  "checkForUpdates": False})):
        (settings / ext).mkdir(parents=True, exist_ok=True)
        (settings / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_PATH=str(tmp / "jupyter_path"),
               JUPYTER_CONFIG_PATH=os.path.join(ROOT, "notebooks"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
                             "--ip=127.0.0.1", f"--port={port}", f"--ServerApp.token={token}",
                             f"--ServerApp.root_dir={work}", f"--LabApp.user_settings_dir={settings}",
                             f"--LabApp.workspaces_dir={tmp / 'workspaces'}"],
                            cwd=str(work), env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 120 s:\n" + (tmp / "lab.log").read_text()[-3000:])
        if proc.poll() is not None:
            pytest.fail("JupyterLab exited:\n" + (tmp / "lab.log").read_text()[-3000:])
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield {"browser": browser, "base": base, "token": token, "work": work, "log": tmp / "lab.log"}
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _open(lab, name):
    page = lab["browser"].new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{lab['base']}/lab/tree/{name}?token={lab['token']}")
    # JupyterLab may restore an earlier test's notebook as a hidden background tab: wait for this one, the visible one
    page.wait_for_selector(".jp-Notebook .jp-Cell >> visible=true", timeout=120_000)
    # the course's kernel started and idle
    page.wait_for_selector(".jp-Toolbar-kernelName:has-text('GPU RL course') >> visible=true", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], "
                           "[data-status='idle']", state="attached", timeout=120_000)
    return page


def test_chapter2_runs_in_jupyterlab_with_outputs_and_a_widget(lab):
    page = _open(lab, "ch02_cartpole.ipynb")
    # nbgrader's lab extension is loaded: its Validate button is in the notebook's toolbar, its menu in the bar
    assert page.locator(".jp-NotebookPanel-toolbar >> text=Validate").count() == 1
    assert page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").count() == 1
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    t0 = time.perf_counter()
    # the last test cell prints its verdict when everything before it has run
    page.wait_for_selector("text=PASS the trained policy balances", state="attached", timeout=600_000)
    print(f"chapter 2, Run All Cells in JupyterLab: {time.perf_counter() - t0:.0f} s")
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count()
    tracebacks = page.locator(".jp-OutputArea-output:has-text('Traceback')").count()
    assert tracebacks == 0, page.locator(".jp-OutputArea-output:has-text('Traceback')").first.inner_text()
    assert page.locator("text=Device: ").count() >= 1  # the device check
    assert page.locator("text=Policy saved to runs/cartpole_policy.pth").count() == 1
    assert page.locator(".jp-RenderedImage img").count() >= 3  # the plots
    # a live ipywidget: the training progress bar, rendered by the widget manager
    assert page.locator(".jp-OutputArea-output .jupyter-widgets.widget-hprogress").count() >= 1
    # the animation (course_lib.viz's JavaScript player)
    assert page.locator(".jp-OutputArea-output .animation").count() >= 1
    print(f"stderr outputs (library notices) in the notebook: {errors}")
    page.close()


def test_validate_button_reports_success(lab):
    page = _open(lab, "ch01_setup.ipynb")
    # JupyterLab may restore the chapter 2 tab from the previous test: click the visible toolbar's button
    page.locator(".jp-NotebookPanel-toolbar >> text=Validate >> visible=true").first.click()
    dialog = page.wait_for_selector(".jp-Dialog", timeout=300_000)
    page.wait_for_selector(".jp-Dialog >> text=/Success|VALIDATION FAILED|error/i", timeout=300_000)
    text = dialog.inner_text()
    assert "Success! Your notebook passes all the tests." in text, text[:2000]
    page.close()
