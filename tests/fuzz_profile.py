"""The hypothesis settings of the property tests (tests/test_fuzz_*.py).

Deterministic (``derandomize``: the same examples on every run, so CI cannot fail by
chance), no example database, and Hypothesis' own caches kept in the temporary
directory rather than a ``.hypothesis`` folder in the checkout.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "ncii-monitor-hypothesis")


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
