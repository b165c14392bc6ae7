"""Shared helpers of the hardening tests: the figures each test measured (printed at the end of the
run and kept in .pytest_cache/nayose-hardening-figures.json), and the tests/nayose helpers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NAYOSE_TESTS = ROOT / "tests" / "nayose"
if str(NAYOSE_TESTS) not in sys.path:  # fakeorg_helpers, test_apply.build_org
    sys.path.insert(0, str(NAYOSE_TESTS))

FIGURES: dict[str, dict] = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a long hardening test (still part of `make test`; "
                            "skip with -m 'not slow' for a quick loop)")


@pytest.fixture
def figures(request):
    """A dict the test fills with what it measured; reported under the test's name."""
    data: dict = {}
    FIGURES[request.node.name] = data
    return data


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    if not FIGURES:
        return
    terminalreporter.section("nayose hardening figures")
    for name, data in FIGURES.items():
        terminalreporter.write_line(f"{name}: {json.dumps(data, ensure_ascii=False, sort_keys=True)}")
    try:
        cache = Path(config.cache._cachedir) if config.cache is not None else ROOT / ".pytest_cache"
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "nayose-hardening-figures.json").write_text(
            json.dumps(FIGURES, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    except (OSError, AttributeError):
        pass
