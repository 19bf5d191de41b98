"""The first cell of every chapter: is this kernel ready for the course?

    >>> from course_lib.grading import check_environment
    >>> device = check_environment()
    Python 3.11.7 (/work/.venv/bin/python)
    torch 2.13.0+cpu, course_lib 0.1.0, rl-games 1.6.5, numpy 2.4.6, matplotlib 3.11.2, ipywidgets 8.1.9
    Device: CPU only (no CUDA GPU found): every notebook runs, with fewer environments
    CPU: 2 cores; torch uses 1 thread (course_lib's CPU default: ...)

A required package that is missing raises an ImportError that says what to
run; an optional one (ipywidgets, nbgrader) is reported with what it is for.
"""
from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import platform
import sys

__all__ = ["check_environment", "REQUIRED", "OPTIONAL"]

#: import name -> (distribution name, what for)
REQUIRED = {
    "torch": ("torch", "tensors and the simulator"),
    "course_lib": ("course_lib", "the course's simulator, tasks and grading"),
    "rl_games": ("rl-games", "PPO training"),
    "numpy": ("numpy", "arrays"),
    "matplotlib": ("matplotlib", "plots"),
}
#: import name -> (distribution name, what a kernel without it does not have)
OPTIONAL = {
    "ipywidgets": ("ipywidgets", "no interactive animations (a static plot is shown instead)"),
    "nbgrader": ("nbgrader", "no Validate button and no `course check`; the test cells still say PASS or FAIL as "
                             "they run (a hosted notebook service: the course's checks work without it)"),
}

FIX = ("From the course's folder run `make lab` (it installs everything into .venv and starts JupyterLab), "
       "or `pip install -e \".[lab]\"` in this kernel's environment; then choose the kernel "
       "'Python 3 (GPU RL course)' (Kernel > Change Kernel). Where there is no `make` (a hosted notebook service), "
       "the notebook's first cell names the `%pip install` command.")


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def check_environment(verbose: bool = True) -> str:
    """Print versions, the device and the CPU; return ``"cuda"`` or ``"cpu"``.

    Raises ImportError, with the command to run, when a required package is missing.
    """
    say = print if verbose else (lambda *a, **k: None)
    say(f"Python {platform.python_version()} ({sys.executable})")
    missing = [f"{imp} ({dist}: {why})" for imp, (dist, why) in REQUIRED.items() if importlib.util.find_spec(imp) is None]
    if missing:
        raise ImportError(f"missing in this kernel: {', '.join(missing)}. {FIX}")
    import torch

    versions = [f"torch {torch.__version__}"]
    for imp, (dist, _) in list(REQUIRED.items())[1:]:
        versions.append(f"{dist} {_version(dist) or '?'}")
    absent = []
    for imp, (dist, why) in OPTIONAL.items():
        v = _version(dist) if importlib.util.find_spec(imp) is not None else None
        if v:
            versions.append(f"{dist} {v}")
        else:
            absent.append(f"{dist} is not installed: {why}")
    say(", ".join(versions))
    for line in absent:
        say(f"Note: {line}")
    if torch.cuda.is_available():
        i = torch.cuda.current_device()
        p = torch.cuda.get_device_properties(i)
        say(f"Device: GPU {i}: {p.name}, {p.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}")
        device = "cuda"
    else:
        why = ("this PyTorch build has no CUDA" if torch.version.cuda is None
               else "no CUDA GPU visible (driver? CUDA_VISIBLE_DEVICES?)")
        say(f"Device: CPU only ({why}): every notebook runs, with fewer environments")
        device = "cpu"
    threads = _cpu_threads()
    if threads is not None and threads < torch.get_num_threads():
        torch.set_num_threads(threads)
        why = ("course_lib's CPU default: with more torch threads than free cores, a shared machine runs "
               "many times slower")
        say(f"CPU: {os.cpu_count()} cores; torch uses {threads} thread{'s' if threads > 1 else ''} ({why})")
    else:
        say(f"CPU: {os.cpu_count()} cores; torch uses {torch.get_num_threads()} threads")
    return device


def _cpu_threads():
    try:
        from ..rl.config import cpu_threads
    except ImportError:  # pragma: no cover - an older course_lib.rl
        return None
    return cpu_threads()
