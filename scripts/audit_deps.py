"""Known vulnerabilities in the pinned dependencies (constraints.txt), with pip-audit.

Exit status 1 when pip-audit reports a vulnerability. When the vulnerability service
cannot be reached for some or all packages, they are listed as not audited, and the exit
status is 0 unless ``--strict`` (a CI with network access should pass ``--strict``).

    python scripts/audit_deps.py [--strict] [--from-json REPORT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_pip_audit(constraints: Path) -> dict:
    answer = subprocess.run(
        [
            sys.executable, "-m", "pip_audit", "--disable-pip", "--no-deps",
            "-r", str(constraints), "-f", "json", "--progress-spinner", "off",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    if not answer.stdout.strip():
        raise SystemExit(f"pip-audit failed (exit {answer.returncode}): {answer.stderr.strip()}")
    return json.loads(answer.stdout)


def judge(report: dict, *, strict: bool) -> tuple[int, list[str]]:
    lines: list[str] = []
    vulnerable = skipped = audited = 0
    for dep in report.get("dependencies", []):
        if dep.get("skip_reason"):
            skipped += 1
            continue
        audited += 1
        for vuln in dep.get("vulns", []):
            vulnerable += 1
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            lines.append(f"VULNERABLE {dep['name']} {dep.get('version')}: {vuln['id']} ({fixes})")
    lines.append(
        f"{audited} packages audited, {vulnerable} known vulnerabilities, "
        f"{skipped} packages not audited (the vulnerability service did not answer for them)"
    )
    if vulnerable:
        return 1, lines
    if skipped and strict:
        lines.append("--strict: packages that could not be audited fail the check")
        return 1, lines
    return 0, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--constraints", type=Path, default=ROOT / "constraints.txt")
    parser.add_argument("--from-json", type=Path, help="judge a saved pip-audit JSON report")
    args = parser.parse_args()
    report = (
        json.loads(args.from_json.read_text())
        if args.from_json
        else run_pip_audit(args.constraints)
    )
    status, lines = judge(report, strict=args.strict)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
