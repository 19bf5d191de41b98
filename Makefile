# The two commands of the README:
#   make lab    installs the course and starts JupyterLab on notebooks/
#   make test   installs the course with its test extras and runs every test
#
# A virtual environment .venv is created unless one (venv or conda) is active.
# PyTorch: an installed torch is kept (a GPU machine's CUDA build included);
# otherwise TORCH_SPEC is installed first, the CPU build 2.13.0 by default, so
# that no later requirement can pull several GB of CUDA wheels.

PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
PORT ?= 8888

ifneq ($(VIRTUAL_ENV)$(CONDA_PREFIX),)
  PY := python
else
  PY := .venv/bin/python
endif

.PHONY: lab serve-lab instructor-lab test install install-test bench clean

$(PY):
	$(PYTHON) -m venv .venv

# `make lab` installs once, and again only when pyproject.toml changes (the stamp file is in the environment;
# delete it to force a reinstall, e.g. after changing TORCH_SPEC). The course itself is installed editable.
STAMP := $(if $(filter python,$(PY)),$(firstword $(VIRTUAL_ENV) $(CONDA_PREFIX)),.venv)/.course-lab-installed

install: $(STAMP)

$(STAMP): pyproject.toml | $(filter .venv/bin/python,$(PY))
	@$(PY) -c "import torch" 2>/dev/null || { echo "Installing PyTorch ($(TORCH_SPEC)): a large download, a minute or more; pip shows its progress"; \
		$(PY) -m pip install --progress-bar on "$(TORCH_SPEC)"; }
	@echo "Installing the course (course_lib, editable) and what it uses: JupyterLab, nbgrader, ipywidgets, rl-games, MuJoCo (pip install -e '.[lab]'; up to a minute)"
	$(PY) -m pip install -q -e ".[lab]"
	$(PY) -m course_lib.grading.kernel   # the notebooks' kernel, "Python 3 (GPU RL course)"
	@touch "$@"

install-test: $(PY)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test,lab]"
	$(PY) -m course_lib.grading.kernel

# JupyterLab as students use it (serve-lab: without the install check; tests/test_jupyterlab.py starts it). The
# server and its terminals run in NOTEBOOKS, where the notebooks' `course check ch02_cartpole/ch02_cartpole.ipynb`
# is typed; the environment's bin/ is on PATH (`course`), the terminals' shell is not a login shell (whose
# /etc/profile would reset PATH), and the students' Jupyter settings come from notebooks/ (nbgrader_config.py,
# labconfig/page_config.json: the Validate button, no instructor tools). LAB_ARGS: more `jupyter lab` options.
NOTEBOOKS := $(if $(wildcard notebooks/*/*.ipynb),notebooks,.)

lab: install
	@$(MAKE) --no-print-directory serve-lab

serve-lab:
	@py="$$($(PY) -c 'import os, sys; print(os.path.abspath(sys.executable))')" && cd "$(NOTEBOOKS)" && \
		echo "JupyterLab in $$(pwd) (terminals open here, with $$(dirname "$$py") on PATH)" && \
		PATH="$$(dirname "$$py"):$$PATH" JUPYTER_CONFIG_PATH="$(CURDIR)/notebooks$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
		exec "$$py" -m jupyter lab --ServerApp.root_dir=. --port=$(PORT) \
		--ServerApp.terminado_settings="{\"shell_command\": [\"$${SHELL:-/bin/sh}\"]}" \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_ARGS)

# The instructor's JupyterLab: nbgrader's Formgrader, Create Assignment and Nbgrader menu (hidden from students by
# notebooks/labconfig/page_config.json, which is not on its JUPYTER_CONFIG_PATH); run in autograder/, the course
# root (its nbgrader_config.py), with the whole repository in the file browser. docs/instructors.md.
instructor-lab: install
	@py="$$($(PY) -c 'import os, sys; print(os.path.abspath(sys.executable))')" && cd autograder && \
		echo "JupyterLab for instructors (Formgrader, Create Assignment: the Nbgrader menu), course root $$(pwd)" && \
		PATH="$$(dirname "$$py"):$$PATH" exec "$$py" -m jupyter lab --ServerApp.root_dir=.. --port=$(PORT) \
		--ServerApp.terminado_settings="{\"shell_command\": [\"$${SHELL:-/bin/sh}\"]}" \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_ARGS)

test: install-test
	@command -v bwrap >/dev/null 2>&1 || { echo "make test: bubblewrap (bwrap) is not installed, and autograding (and its tests) runs every submission in a bwrap sandbox: sudo apt-get install bubblewrap (Debian, Ubuntu) or sudo dnf install bubblewrap (Fedora)"; exit 1; }
	$(PY) -m pytest -q -ra -n 2 --dist loadscope --durations=10   # tests/conftest.py: units, order, threads

bench: install
	$(PY) -m course_lib.cli bench

clean:
	rm -rf .venv runs build *.egg-info
