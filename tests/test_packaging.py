"""Packaging: the two README commands, environment.yml against pyproject, shipped assets."""
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make lab", "make test"]
    assert text.index("```bash") < 80  # right under the title


def test_makefile_has_both_targets_and_never_installs_a_bare_torch():
    mk = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab:", mk, re.M) and re.search(r"^test:", mk, re.M)
    assert "TORCH_SPEC ?= torch==2.13.0" in mk


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = {_name(r) for r in py["project"]["dependencies"]}
    lab = {_name(r) for r in py["project"]["optional-dependencies"]["lab"]}
    env = (ROOT / "environment.yml").read_text()
    assert re.search(r"python=3\.11", env)
    pip_section = env.split("- pip:", 1)[1]
    listed = {_name(line.strip()[2:]) for line in pip_section.splitlines() if line.strip().startswith("- ")}
    listed.discard("-e")
    assert runtime | lab == listed, (runtime | lab) ^ listed
    assert "-e ." in pip_section


def test_urdf_assets_ship_with_the_package():
    from course_lib.sim import asset_path

    for name in ("franka_panda.urdf", "cartpole.urdf"):
        assert Path(asset_path(name)).is_file()
    with pytest.raises(FileNotFoundError, match="shipped assets"):
        asset_path("ur5.urdf")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
