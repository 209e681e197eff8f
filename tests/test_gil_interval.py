"""Node processes tune the interpreter: the GIL hand-off interval (20 ms, or
GOVCHAIN_GIL_INTERVAL_MS), and a garbage collector that leaves start-up objects alone."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import typer

from govchain.cli.common import GIL_INTERVAL_ENV, tune_node_process


@pytest.fixture(autouse=True)
def restore_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(GIL_INTERVAL_ENV, raising=False)
    tune_node_process()
    assert sys.getswitchinterval() == pytest.approx(0.020)
    monkeypatch.setenv(GIL_INTERVAL_ENV, "5")
    tune_node_process()
    assert sys.getswitchinterval() == pytest.approx(0.005)


@pytest.mark.parametrize("value", ["fast", "0", "5000", "nan"])
def test_a_bad_value_is_refused_and_changes_nothing(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    sys.setswitchinterval(0.007)
    monkeypatch.setenv(GIL_INTERVAL_ENV, value)
    with pytest.raises(typer.Exit) as info:
        tune_node_process()
    assert info.value.exit_code == 2
    assert sys.getswitchinterval() == pytest.approx(0.007)


SERVE_PROBE = """
import gc, uvicorn
from govchain.cli.common import GC_YOUNG_THRESHOLD, serve
seen = []
uvicorn.Server.run = lambda self: seen.append((gc.get_freeze_count(), gc.get_threshold()[0]))
before = gc.get_freeze_count()
serve(object(), "127.0.0.1", 0)
frozen, young = seen[0]
print(before, frozen > 1000, young == GC_YOUNG_THRESHOLD)
"""


def test_serving_freezes_what_start_up_made() -> None:
    # in a process of its own: freezing this test process's objects would outlive the test
    out = subprocess.run([sys.executable, "-c", SERVE_PROBE], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "True", "True"]
