"""The README is executable documentation: its commands and its example must keep working."""

from __future__ import annotations

import re
from pathlib import Path

import gradviz

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _code_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = next(b.strip() for b in _code_blocks("bash") if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_main_job_command_opens_the_first_tutorial_in_jupyterlab() -> None:
    main = next(b.strip() for b in _code_blocks("bash") if "jupyter lab" in b)
    notebook = re.search(r"jupyter lab .*?(notebooks/\S+\.ipynb)", main)
    assert notebook is not None and (ROOT / notebook.group(1)).is_file()


def test_quick_example_runs_and_its_assertions_hold(capsys) -> None:
    example = next(b for b in _code_blocks("python") if "class Net" in b)
    exec(compile(example, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "enc.weight" in out and "detach" in out


def test_every_cause_is_documented() -> None:
    documented = set(re.findall(r"^\| `(\w+)`", README, flags=re.M))
    documented |= {"data"}  # shares a row with detach
    assert documented == {c.value for c in gradviz.Cause}


def test_main_command_runs_as_a_normal_user_and_says_what_root_adds() -> None:
    main = next(b.strip() for b in _code_blocks("bash") if "jupyter lab" in b)
    assert "--allow-root" not in main and "apt-get" not in main and "sudo" not in main
    assert re.search(r"as root.*`--allow-root`", README, flags=re.S | re.I)


def test_readme_names_the_distribution_that_pip_installs() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    name = re.search(r'^name = "([^"]+)"', pyproject, flags=re.M).group(1)
    assert name != "gradviz"  # taken on PyPI by an unrelated project
    assert f"**`{name}`**" in README
    assert re.search(r'^notebook = \[.*"notebook>=7".*\]', pyproject, flags=re.M)
