"""The course's Jupyter kernel: ``gpu-rl-course``, this Python, with course_lib.

The notebooks name it in their metadata, so JupyterLab, nbgrader's Validate
button and the autograder all run them with the interpreter that has the
course installed, never with whatever ``python3`` kernel a machine has.

    python -m course_lib.grading.kernel            # install it for this environment (sys.prefix)
"""
from __future__ import annotations

import json
import os
import sys

__all__ = ["KERNEL_NAME", "DISPLAY_NAME", "kernel_installed", "install_kernel", "write_kernelspec"]

KERNEL_NAME = "gpu-rl-course"
DISPLAY_NAME = "Python 3 (GPU RL course)"


def kernel_installed() -> bool:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        return KERNEL_NAME in KernelSpecManager().find_kernel_specs()
    except Exception:  # noqa: BLE001 - jupyter_client missing or misconfigured: not installed
        return False


def write_kernelspec(directory: str, python: str | None = None) -> str:
    """Write ``<directory>/kernels/gpu-rl-course/kernel.json`` (for a JUPYTER_PATH entry); return its folder."""
    path = os.path.join(directory, "kernels", KERNEL_NAME)
    os.makedirs(path, exist_ok=True)
    spec = {"argv": [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": DISPLAY_NAME, "language": "python", "metadata": {"debugger": True}}
    with open(os.path.join(path, "kernel.json"), "w") as f:
        json.dump(spec, f, indent=1)
    return path


def install_kernel(prefix: str | None = None, quiet: bool = False) -> str:
    """Install the kernel into ``prefix`` (default: this environment, ``sys.prefix``); return the kernelspec folder."""
    from ipykernel.kernelspec import install

    path = install(kernel_name=KERNEL_NAME, display_name=DISPLAY_NAME, prefix=prefix or sys.prefix)
    if not quiet:
        print(f"Installed the Jupyter kernel {DISPLAY_NAME!r} ({KERNEL_NAME}) in {path}")
    return path


if __name__ == "__main__":
    install_kernel()
