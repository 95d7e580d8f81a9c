"""A short run of each atheris target (tests/fuzz/fuzz_targets.py), as CI can afford.

Each target runs in a fresh process (atheris.Setup and Fuzz need one) for a few
seconds, seeded with its corpus (for images: the hostile corpus of
tests/hostile_images.py) written to a temporary directory; crash artifacts go there
too, never into the repository. A crash (an exception other than the documented
refusals, a broken invariant, a hang past -timeout, memory past -rss_limit_mb) makes
libFuzzer exit non-zero and the test fail. ``selftest`` checks that it does.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

HARNESS = Path(__file__).resolve().parent / "fuzz" / "fuzz_targets.py"
#: Seconds of fuzzing for each target; six targets stay under 30 s in all.
SECONDS = 4
RUNS = 100_000  # the time limit is what ends a run; this only bounds a very fast target


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_targets", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_target(target: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    corpus = _harness().write_seeds(target, tmp_path / "corpus")
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    return subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            target,
            f"-runs={RUNS}",
            f"-max_total_time={SECONDS}",
            "-timeout=10",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={artifacts}/",
            "-print_final_stats=1",
            *extra,
            str(corpus),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # atheris prints the Python traceback on stdout
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


def _executions(output: str) -> int:
    for line in output.splitlines():
        if line.startswith("stat::number_of_executed_units:"):
            return int(line.split(":")[-1])
    return 0


@pytest.mark.parametrize("target", ["extract", "srcset", "url", "hashlist", "image", "sitemap"])
def test_fuzz_target_finds_no_crash(target: str, tmp_path: Path) -> None:
    run = run_target(target, tmp_path)
    assert run.returncode == 0, f"atheris found a crash in {target}:\n{run.stdout[-6000:]}"
    assert not list((tmp_path / "artifacts").iterdir())
    # It really fuzzed: past the seeds, and not only the seeds' own paths.
    assert _executions(run.stdout) > len(list((tmp_path / "corpus").iterdir()))
    assert "INITED" in run.stdout and "cov:" in run.stdout


def test_a_crashing_target_fails_the_run(tmp_path: Path) -> None:
    """The selftest target raises on its seed "boom": libFuzzer must exit non-zero, write
    the input to the artifact directory and show the Python traceback."""
    run = run_target("selftest", tmp_path)
    assert run.returncode != 0
    assert "RuntimeError: selftest crash" in run.stdout
    crashes = list((tmp_path / "artifacts").glob("crash-*"))
    assert [crash.read_bytes() for crash in crashes] == [b"boom"]
