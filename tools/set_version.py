"""Set the project's one version number everywhere it is read.

    python tools/set_version.py 0.2.0

Writes it into firmware/ephkey/__init__.py, host/ephkey_host/__init__.py
(which pip reads), package.json (which mip reads) and every
boards/*/manifest.py (which a frozen image records).
tests/host/test_host_install.py checks that they agree.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _sub(path: Path, pattern: str, repl: str) -> None:
    text = path.read_text()
    new, n = re.subn(pattern, repl, text, count=1, flags=re.M)
    if n != 1:
        raise SystemExit(f"set_version: no version found in {path.relative_to(REPO)}")
    path.write_text(new)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not re.fullmatch(r"\d+\.\d+\.\d+", argv[0]):
        print("usage: python tools/set_version.py X.Y.Z", file=sys.stderr)
        return 2
    v = argv[0]
    for init in ("firmware/ephkey/__init__.py", "host/ephkey_host/__init__.py"):
        _sub(REPO / init, r'^__version__ = "[^"]+"', f'__version__ = "{v}"')
    pkg = REPO / "package.json"
    _sub(pkg, r'^(\s*"version":\s*)"[^"]+"', rf'\g<1>"{v}"')
    json.loads(pkg.read_text())  # still valid JSON
    for manifest in sorted(REPO.glob("boards/*/manifest.py")):
        _sub(manifest, r'^(metadata\(.*\bversion=)"[^"]+"', rf'\g<1>"{v}"')
    print(f"set_version: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
