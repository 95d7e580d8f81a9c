"""The dependency check of CI (scripts/audit_deps.py): it fails on a known vulnerability."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "audit_deps.py"


def judge(tmp_path: Path, report: dict, *flags: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--from-json", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_known_vulnerability_fails_the_check(tmp_path: Path) -> None:
    report = {
        "dependencies": [
            {"name": "jinja2", "version": "2.10", "vulns": [
                {"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"], "aliases": []}]},
            {"name": "click", "version": "8.1.7", "vulns": []},
        ]
    }  # fmt: skip
    answer = judge(tmp_path, report)
    assert answer.returncode == 1
    assert "VULNERABLE jinja2 2.10: PYSEC-2019-217 (2.10.1)" in answer.stdout
    assert "2 packages audited, 1 known vulnerabilities" in answer.stdout


def test_clean_and_unreachable_reports(tmp_path: Path) -> None:
    clean = {"dependencies": [{"name": "click", "version": "8.1.7", "vulns": []}]}
    assert judge(tmp_path, clean).returncode == 0
    unreachable = {"dependencies": [{"name": "click", "skip_reason": "not found on PyPI"}]}
    lenient = judge(tmp_path, unreachable)
    assert lenient.returncode == 0 and "1 packages not audited" in lenient.stdout
    assert judge(tmp_path, unreachable, "--strict").returncode == 1


def test_every_dependency_is_pinned() -> None:
    """constraints.txt pins every package the project and its tests install."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version and re.fullmatch(r"[\w.+!-]+", version), line
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    from importlib.metadata import distributions

    installed = {
        re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in distributions()
    }
    installed.pop("ncii-monitor", None)
    for tool in ("pip", "setuptools", "wheel", "ruff"):
        installed.pop(tool, None)
    unpinned = {n: v for n, v in installed.items() if pins.get(n) != v}
    assert not unpinned, f"installed but not pinned as such in constraints.txt: {unpinned}"
