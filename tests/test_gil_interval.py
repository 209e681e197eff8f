"""Node processes set the GIL hand-off interval: 20 ms, or GOVCHAIN_GIL_INTERVAL_MS."""

from __future__ import annotations

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
