"""The licence benchmark runs end to end and reports what it did (figures come from running it, not here)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from govchain.cli.main import app

pytestmark = pytest.mark.slow


def test_licence_bench_issues_then_checks_every_sampled_licence() -> None:
    result = CliRunner().invoke(
        app, ["bench", "--workload", "licence", "--suite", "gm", "--txs", "300", "--reads", "40", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert (report["issued"], report["failed"]) == (300, 0)
    assert (report["reads"], report["reads_valid"]) == (40, 40)
    assert report["verify_p50_ms"] <= report["verify_p99_ms"]
    assert report["suite"] == "gm" and report["verify_per_s_core"] > 0
    assert report["renders"] == 40 and 0 < report["render_p50_ms"] <= report["render_p99_ms"]


def test_bench_refuses_an_unknown_workload() -> None:
    result = CliRunner().invoke(app, ["bench", "--workload", "credit"])
    assert result.exit_code == 2 and "unknown workload" in result.output
