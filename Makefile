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

.PHONY: lab test install install-test bench clean

$(PY):
	$(PYTHON) -m venv .venv

install: $(PY)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[lab]"
	$(PY) -m course_lib.grading.kernel   # the notebooks' kernel, "Python 3 (GPU RL course)"

install-test: $(PY)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test,lab]"
	$(PY) -m course_lib.grading.kernel

lab: install
	JUPYTER_CONFIG_PATH="$(CURDIR)/notebooks$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
		$(PY) -m jupyter lab --notebook-dir="$$( [ -d notebooks ] && ls notebooks/*/*.ipynb >/dev/null 2>&1 && echo notebooks || echo . )" \
		--port=$(PORT) $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

test: install-test
	$(PY) -m pytest -q -ra -n 2 --dist loadscope --durations=10   # tests/conftest.py: units, order, threads

bench: install
	$(PY) -m course_lib.cli bench

clean:
	rm -rf .venv runs build *.egg-info
