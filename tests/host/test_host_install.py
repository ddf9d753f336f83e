"""The host installs like any Python package, and the project has one version.

`pip install .` in a fresh virtualenv gives the `ephkey_host` package and the
`ephkey` command (issue: no `.pth` trick, no checkout needed at run time);
the version number is the same in every place a user or a tool reads it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hostkit import REPO

import ephkey_host


def _versions() -> dict[str, str]:
    found = {"host/ephkey_host/__init__.py": ephkey_host.__version__}
    m = re.search(r'^__version__ = "([^"]+)"',
                  (REPO / "firmware" / "ephkey" / "__init__.py").read_text(), re.M)
    found["firmware/ephkey/__init__.py"] = m.group(1) if m else "missing"
    found["package.json"] = json.loads((REPO / "package.json").read_text()).get("version",
                                                                               "missing")
    for manifest in sorted(REPO.glob("boards/*/manifest.py")):
        m = re.search(r'^metadata\(.*\bversion="([^"]+)"', manifest.read_text(), re.M)
        found[str(manifest.relative_to(REPO))] = m.group(1) if m else "missing"
    return found


def test_one_version_everywhere() -> None:
    found = _versions()
    assert len(found) >= 7, found  # host, firmware, package.json and the board manifests
    assert len(set(found.values())) == 1, found
    assert re.fullmatch(r"\d+\.\d+\.\d+", ephkey_host.__version__)
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'version = {attr = "ephkey_host.__version__"}' in pyproject  # pip reads the same


@pytest.mark.slow
@pytest.mark.timeout(280)
def test_pip_install_in_a_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    py = venv / "bin" / "python"
    proc = subprocess.run([str(py), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", str(REPO)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outside = tmp_path / "elsewhere"  # nothing of the checkout on the path
    outside.mkdir()
    ephkey = venv / "bin" / "ephkey"
    proc = subprocess.run([str(ephkey), "--help"], capture_output=True, text=True,
                          cwd=outside, timeout=60)
    assert proc.returncode == 0 and "usage: ephkey" in proc.stdout, proc.stderr
    for cmd in ("pair", "peer", "sniff", "vectors"):
        assert cmd in proc.stdout
    proc = subprocess.run([str(py), "-m", "ephkey_host", "vectors", "--dir",
                           str(REPO / "tests" / "vectors")],
                          capture_output=True, text=True, cwd=outside, timeout=120)
    assert proc.returncode == 0 and " 0 failed" in proc.stdout, proc.stdout + proc.stderr
    proc = subprocess.run([str(ephkey), "vectors"], capture_output=True, text=True,
                          cwd=outside, timeout=60)
    assert proc.returncode == 2 and "no vector folder" in proc.stderr  # says what to give
    proc = subprocess.run([str(py), "-c", "import ephkey_host, pathlib; "
                           "print(ephkey_host.__version__); "
                           "print(pathlib.Path(ephkey_host.__file__).parent)"],
                          capture_output=True, text=True, cwd=outside, timeout=60)
    version, where = proc.stdout.split()
    assert version == ephkey_host.__version__
    installed = Path(where)
    assert not str(installed).startswith(str(REPO)), "imported from the checkout"
    names = {p.name for p in installed.glob("*.py")}
    assert "cli.py" in names and "hostile.py" not in names  # attack tooling stays in tools/
