"""The CLI and SDK against a real node process, as a user runs them from the README."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govchain.cli.main import app
from govchain.sdk.client import Client, SdkError
from tests.test_crash import free_port, start_node

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["intl", "gm"])
def node_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp(f"node-{request.param}")
    port = free_port()
    # Create the chain with the requested suite, then run it.
    create = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from govchain.node.chain import create_dev_chain; from pathlib import Path; "
            f"create_dev_chain(Path({str(base / 'data')!r}), {request.param!r})",
        ],
        check=True,
    )
    assert create.returncode == 0
    proc = start_node(base / "data", port, base / "node.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


@pytest.fixture
def cli(tmp_path: Path, node_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GOVCHAIN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GOVCHAIN_NODE", node_url)
    return CliRunner()


def test_notarize_then_verify_offline(cli: CliRunner, tmp_path: Path, node_url: str) -> None:
    files = []
    for name, text in (("a.txt", "第一份文件"), ("b.bin", "second")):
        path = tmp_path / name
        path.write_text(text)
        files.append(path)
    out = tmp_path / "receipts"
    result = cli.invoke(app, ["notarize", *map(str, files), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (Path(os.environ["GOVCHAIN_HOME"]) / "keys").is_dir()  # a first-time key was made
    for f in files:
        receipt = out / f"{f.name}.receipt.json"
        ok = cli.invoke(app, ["verify", str(receipt), str(f)])
        assert ok.exit_code == 0 and "VALID" in ok.output
    genesis = json.loads((out / "a.txt.receipt.json").read_text())["chain"]["genesis_hash"]
    pinned = cli.invoke(app, ["verify", str(out / "a.txt.receipt.json"), str(files[0]), "--chain", genesis])
    assert pinned.exit_code == 0
    wrong = cli.invoke(app, ["verify", str(out / "a.txt.receipt.json"), str(files[0]), "--chain", "ab" * 32])
    assert wrong.exit_code == 1 and "wrong_chain" in wrong.output
    files[0].write_text("第一份文件!")  # one byte more: altered
    bad = cli.invoke(app, ["verify", str(out / "a.txt.receipt.json"), str(files[0]), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.output)["failure"] == "file_altered"
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert cli.invoke(app, ["verify", str(garbage)]).exit_code == 2
    assert cli.invoke(app, ["verify", str(tmp_path / "missing.json")]).exit_code == 2


def test_notarize_refuses_missing_files(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["notarize", str(tmp_path / "nope.pdf")])
    assert result.exit_code == 2 and "not a readable file" in result.output


def test_read_commands(cli: CliRunner) -> None:
    status = cli.invoke(app, ["status", "--json"])
    assert status.exit_code == 0
    info = json.loads(status.output)
    block = cli.invoke(app, ["block", str(info["height"])])
    assert block.exit_code == 0 and json.loads(block.output)["header"]["height"] == info["height"]
    missing = cli.invoke(app, ["tx", "00" * 32])
    assert missing.exit_code == 1 and "unknown_tx" in missing.output


def test_keys_new_does_not_overwrite(cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "k.json"
    assert cli.invoke(app, ["keys", "new", "--suite", "gm", "--out", str(target)]).exit_code == 0
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    again = cli.invoke(app, ["keys", "new", "--out", str(target)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert cli.invoke(app, ["keys", "new", "--suite", "rsa"]).exit_code == 2


def test_sdk_batch_of_ten_thousand(node_url: str) -> None:
    with Client(node_url) as probe:
        suite = probe.chain.suite
    with Client(node_url, key=suite.generate_keypair()) as client:
        docs = [secrets.token_bytes(40) for _ in range(10_000)]
        digests = [suite.hash(d) for d in docs]
        done = client.notarize_batch(digests, meta={"batch": "archive-2026-11"})
        assert done.ok
        for k in (0, 4321, 9_999):
            receipt = client.receipt(done.tx_id, digest=digests[k])
            assert receipt["document"]["batch_index"] == k
            assert client.verify(receipt, docs[k]).ok
            assert client.verify(receipt, docs[k] + b"!").failure == "file_altered"
        assert client.lookup(digests[4321])["anchors"][0]["index"] == 4321
        with pytest.raises(SdkError) as refused:
            client.notarize_batch(digests[:2] + digests[:1])
        assert refused.value.code == "invalid_args"
        with pytest.raises(SdkError) as too_many:
            client.notarize_batch([*digests, suite.hash(b"one more")])
        assert too_many.value.code == "invalid_args"


def test_bench_against_running_node(cli: CliRunner, node_url: str) -> None:
    result = cli.invoke(app, ["bench", "--node", node_url, "--txs", "600", "--batch", "200", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["committed"] == 600 and report["failed"] == 0
    assert report["tx_per_s"] > 0 and report["verify_per_s_core"] > 0
    assert 0 < report["p50_ms"] <= report["p95_ms"] <= report["p99_ms"]
    assert set(report["machine_cpu_pct"]) == {"busy", "idle", "iowait", "steal"}


def test_bench_runs_need_a_network() -> None:
    out = CliRunner().invoke(app, ["bench", "--runs", "3"])
    assert out.exit_code == 2 and "--network" in out.output


def test_bench_reads_the_machines_own_cpu_account() -> None:
    from govchain.cli.bench import machine_shares, machine_ticks

    # /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice
    before = machine_ticks("cpu  1000 0 200 5000 100 0 0 50 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    after = machine_ticks("cpu  1700 10 290 5080 120 5 5 140 30 0\n")
    assert before == {"busy": 1200, "idle": 5000, "iowait": 100, "steal": 50}
    # spent: busy 810, idle 80, I/O wait 20, steal 90 of 1000 ticks (guest time is inside user already)
    assert machine_shares(before, after) == {"busy": 81.0, "idle": 8.0, "iowait": 2.0, "steal": 9.0}
    assert machine_ticks("intr 1 2 3\n") == {} and machine_ticks("cpu 1 2\n") == {}
    assert machine_shares({}, after) == {} and machine_shares(after, after) == {}
    live = machine_ticks()  # this machine's own /proc/stat
    assert set(live) == {"busy", "idle", "iowait", "steal"} and all(v >= 0 for v in live.values())


def test_bench_summary_gives_median_and_spread() -> None:
    from govchain.cli.bench import SUMMARISED, summarise

    runs = [
        {key: value * k for key in SUMMARISED} for k, value in ((1, 10.0), (2, 10.0), (3, 10.0), (4, 10.0))
    ]
    runs[0]["final_tx_per_s"] = 100.0  # not in order
    summary = summarise(runs)
    assert summary["final_tx_per_s"] == {"median": 35.0, "min": 20.0, "max": 100.0}
    assert summary["final_p99_ms"] == {"median": 25.0, "min": 10.0, "max": 40.0}
    ratios = [0.162, 0.156, 0.159, 0.148, 0.145]  # the median of small ratios keeps its digits
    assert summarise([{**runs[0], "tx_per_verify_core": r} for r in ratios])["tx_per_verify_core"] == {
        "median": 0.156,
        "min": 0.145,
        "max": 0.162,
    }
    assert "machine_steal_pct" not in summary  # no machine account in these runs
    for k, run in enumerate(runs):
        run["machine_cpu_pct"] = {"busy": 90.0 - k, "idle": 1.0, "iowait": 0.0, "steal": 9.0 + k}
    summary = summarise(runs)
    assert summary["machine_steal_pct"] == {"median": 10.5, "min": 9.0, "max": 12.0}
    assert summary["machine_idle_pct"] == {"median": 1.0, "min": 1.0, "max": 1.0}


def test_network_status_says_why_a_peer_is_unhealthy() -> None:
    from govchain.cli.network import _health

    row = {"healthy": False, "catching_up": False, "error": "position_unknown"}
    assert _health(row) == "no (position_unknown)"
    assert _health({**row, "error": None}) == "no"  # not answering: nothing to say
    assert _health({**row, "healthy": True, "error": None, "catching_up": True}) == "catching up"
    assert _health({**row, "healthy": True, "error": None}) == "yes"
