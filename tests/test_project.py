"""Project-wide rules: layering, documented settings, no stored imagery by configuration."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from monitor.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def test_monitor_never_imports_scrapy() -> None:
    modules = sorted(
        "monitor." + ".".join(p.relative_to(ROOT / "monitor").with_suffix("").parts)
        for p in (ROOT / "monitor").rglob("*.py")
        if p.name not in ("__main__.py",)
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name.removesuffix('.__init__'))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('scrapy', 'twisted', 'crawler', 'spiders'))\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_crawler_does_not_import_spiders() -> None:
    for path in (ROOT / "crawler").rglob("*.py"):
        assert not re.search(r"^\s*(from|import) spiders", path.read_text(), re.M), path


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for setting in SETTINGS:
        assert f"| `{setting.name}` |" in readme, setting.name
    documented = set(re.findall(r"^\| `(MONITOR_[A-Z_]+)` \|", readme, re.M))
    assert documented == {s.name for s in SETTINGS}


def test_scrapy_settings_keep_nothing_and_run_nothing() -> None:
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings")
    assert settings.getbool("HTTPCACHE_ENABLED") is False
    assert settings.getbool("REMOTE_CONTROL_ENABLED") is False
    assert settings.getbool("TELNETCONSOLE_ENABLED") is False
    handlers = settings.getdict("DOWNLOAD_HANDLERS")
    assert all(handlers[scheme] is None for scheme in ("file", "data", "ftp", "s3"))
    pipelines = settings.getdict("ITEM_PIPELINES")
    assert not any("ImagesPipeline" in p or "FilesPipeline" in p for p in pipelines)
    assert not settings.get("IMAGES_STORE") and not settings.get("FILES_STORE")


def test_every_test_security_md_names_exists() -> None:
    """SECURITY.md backs each promise with a test: each one it names must exist."""
    text = (ROOT / "SECURITY.md").read_text()
    named = re.findall(r"`(test_\w+\.py)::(test_\w+)`", text)
    bare = re.findall(r"`(test_\w+)`", text)
    assert len(named) > 30, named
    sources = {p.name: p.read_text() for p in (ROOT / "tests").glob("test_*.py")}
    for module, test in named:
        assert module in sources, f"SECURITY.md names {module}, which does not exist"
        assert re.search(rf"^def {test}\(", sources[module], re.M), f"{module}::{test} is missing"
    everything = "\n".join(sources.values())
    for test in bare:
        assert re.search(rf"^def {test}\(", everything, re.M), f"{test} is missing"
    for module in re.findall(r"`(test_\w+\.py)`", text):
        assert module in sources, f"SECURITY.md names {module}, which does not exist"
