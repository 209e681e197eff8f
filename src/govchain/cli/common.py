"""Shared CLI plumbing: default locations, the node URL, key loading, error exits."""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.sdk.client import DEFAULT_NODE, Client, SdkError

console = Console()
err_console = Console(stderr=True)

NODE_OPTION = typer.Option(None, "--node", help="Node URL (default: $GOVCHAIN_NODE or http://127.0.0.1:8760)")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table")


GIL_INTERVAL_ENV = "GOVCHAIN_GIL_INTERVAL_MS"
DEFAULT_GIL_INTERVAL_MS = 20.0
GC_YOUNG_THRESHOLD = 10_000  # allocations between young-generation collections (Python's default: 700)


def tune_node_process() -> None:
    """Let a busy thread keep the GIL for up to 20 ms instead of Python's 5 ms.

    A node runs several busy threads (executor, committer, stream reader, HTTP), so the
    default forces many GIL hand-offs. On a 4-organisation network on one 2-core machine,
    20 ms cost less CPU per finalised transaction than 5 ms (docs/benchmarks.md); it stays
    far below block times, and threads waiting on I/O, SQLite or signature checks release
    the GIL anyway. `GOVCHAIN_GIL_INTERVAL_MS` overrides it, e.g. to compare settings.
    """
    raw = os.environ.get(GIL_INTERVAL_ENV, "")
    try:
        interval_ms = float(raw) if raw else DEFAULT_GIL_INTERVAL_MS
    except ValueError:
        fail(f"{GIL_INTERVAL_ENV} must be a number of milliseconds, not {raw!r}", 2)
    if not 0.1 <= interval_ms <= 1000:
        fail(f"{GIL_INTERVAL_ENV} must be between 0.1 and 1000 ms, not {raw}", 2)
    sys.setswitchinterval(interval_ms / 1000)


def freeze_startup_objects() -> None:
    """Keep what start-up made (modules, the web app, the node) out of the garbage collector's
    passes, and collect the young generation less often.

    A full pass walks every tracked object, and in a busy peer those passes mostly walked
    start-up objects that live as long as the process. Measured with `gc.callbacks` on each
    peer of a 4-org network over 64,000 transactions: 1.0 s of collection out of about 16 s
    of CPU before, 0.34-0.38 s after."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def serve(app: Any, host: str, port: int) -> None:
    """Serve a node's API until Ctrl+C or SIGTERM, then return, so that the caller's cleanup
    (stopping the node, its worker processes) runs either way.

    uvicorn stops gracefully on both signals and then raises the signal again with the handler
    that was in place before it started. For SIGTERM (`network down`, systemd) that was the
    default one, which ends the process on the spot and skips every `finally`. A handler that
    raises SystemExit instead lets the cleanup run; the process then exits with status 0.
    """
    import uvicorn

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        # Open live feeds (server-sent events) never finish by themselves: give them a moment,
        # then close them, so a stop request ends the node even with a portal open.
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
        freeze_startup_objects()
        uvicorn.Server(config).run()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def home() -> Path:
    """Where govchain keeps its files: $GOVCHAIN_HOME, else ~/.govchain."""
    return Path(os.environ.get("GOVCHAIN_HOME", Path.home() / ".govchain"))


def node_url(option: str | None) -> str:
    return option or os.environ.get("GOVCHAIN_NODE") or DEFAULT_NODE


def default_key_path(suite: str) -> Path:
    return home() / "keys" / f"{suite}.json"


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)  # one line: easy to grep
    raise typer.Exit(code)


def load_or_create_key(suite_name: str, path: Path | None) -> KeyFile:
    """The signing key for this suite; a first-time user gets one made for them, and is told."""
    target = path or default_key_path(suite_name)
    if target.exists():
        try:
            key = KeyFile.load(target)
        except ValueError as exc:
            fail(str(exc))
        if key.suite != suite_name:
            fail(f"{target} holds a {key.suite} key but the chain uses {suite_name}")
        return key
    if path is not None:
        fail(f"no key file at {path} (make one with: govchain keys new --suite {suite_name} --out {path})")
    key = KeyFile.generate(get_suite(suite_name))
    key.save(target)
    err_console.print(f"[dim]created a new {suite_name} signing key at {target}[/]")
    return key


def client_for(node: str | None, key_path: Path | None = None, with_key: bool = False) -> Client:
    client = Client(node_url(node))
    if with_key:
        try:
            suite = client.chain.suite.name
        except SdkError as exc:
            fail(exc.message)
        client.key = load_or_create_key(suite, key_path).keys
    return client


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))
