"""Waiting for a nats-server to reload its config, and hearing when it refuses to."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from govchain.node.network import NetworkError, _log_size, _spawn, await_reload, find_nats_server
from tests.network.conftest import free_port, wait_port


def test_a_reload_is_awaited_and_a_refused_one_reported(tmp_path: Path) -> None:
    nats_server = find_nats_server()
    assert nats_server is not None, "nats-server is missing (scripts/install-nats.sh)"
    port = free_port()
    conf, log = tmp_path / "nats.conf", tmp_path / "nats.log"
    conf.write_text(f'listen: "127.0.0.1:{port}"\nauthorization {{ users: [{{user: a, password: a}}] }}\n')
    proc = _spawn([nats_server, "-c", str(conf)], tmp_path, log)
    try:
        wait_port(port)
        mark = _log_size(log)
        conf.write_text(conf.read_text().replace("password: a", "password: b"))  # reloadable
        os.kill(proc.pid, signal.SIGHUP)
        await_reload(log, mark, "test-nats", timeout=10)

        mark = _log_size(log)
        conf.write_text(conf.read_text() + "accounts { SYS { users: [{user: s, password: s}] } }\n")
        conf.write_text(conf.read_text() + "system_account: SYS\n")  # not reloadable
        os.kill(proc.pid, signal.SIGHUP)
        with pytest.raises(NetworkError) as refused:
            await_reload(log, mark, "test-nats", timeout=10)
        assert refused.value.reason == "reload_failed" and "SystemAccount" in refused.value.message

        with pytest.raises(NetworkError) as silent:  # nothing new in the log: no reload happened
            await_reload(log, _log_size(log), "test-nats", timeout=0.5)
        assert silent.value.reason == "reload_timeout"
    finally:
        proc.kill()
        proc.wait(timeout=10)
