"""`govchain notarize`: anchor files and write one receipt per file."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from govchain.cli.common import NODE_OPTION, client_for, console, fail
from govchain.sdk.client import SdkError, hash_file

CHUNK = 500


def notarize(
    files: list[Path] = typer.Argument(..., help="Files to notarise"),
    node: str = NODE_OPTION,
    out: Path = typer.Option(None, "--out", help="Directory for the receipts (default: the current one)"),
    key: Path = typer.Option(None, "--key", help="Signing key file (default: ~/.govchain/keys/<suite>.json)"),
) -> None:
    """Anchor each file's digest on the chain, wait for commit, and write FILE.receipt.json for each."""
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        fail(f"not a readable file: {', '.join(missing)}", 2)
    out_dir = out or Path.cwd()
    out_dir.mkdir(parents=True, exist_ok=True)
    client = client_for(node, key, with_key=True)
    suite = client.chain.suite
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    rows = []
    with Progress(*columns, console=console, transient=len(files) < 5) as progress:
        hashing = progress.add_task("hashing", total=len(files))
        digests = []
        for f in files:
            digests.append(hash_file(suite, f))
            progress.advance(hashing)
        sending = progress.add_task("anchoring", total=len(files))
        written = progress.add_task("receipts", total=len(files))
        for start in range(0, len(files), CHUNK):
            chunk = list(zip(files[start : start + CHUNK], digests[start : start + CHUNK], strict=True))
            txs = [
                client.sign(
                    "notary", "anchor", {"digest": d, "meta": {"name": f.name, "size": f.stat().st_size}}
                )
                for f, d in chunk
            ]
            try:
                outcomes = client.submit_many(txs, wait=True)
            except SdkError as exc:
                fail(f"{exc.code}: {exc.message}")
            progress.advance(sending, len(chunk))
            for (f, d), outcome in zip(chunk, outcomes, strict=True):
                if not outcome.ok:
                    rows.append(
                        (f.name, d.hex(), "-", f"[red]{outcome.code or outcome.status}[/] {outcome.message}")
                    )
                    progress.advance(written)
                    continue
                receipt = client.receipt(outcome.tx_id, digest=d)
                target = _receipt_path(out_dir, f)
                target.write_text(json.dumps(receipt, ensure_ascii=False, indent=2) + "\n")
                rows.append((f.name, d.hex(), str(outcome.height), str(target)))
                progress.advance(written)
    table = Table("file", "digest", "block")
    table.add_column("receipt", overflow="fold")
    for row in rows:
        table.add_row(row[0], row[1][:16] + "…", row[2], row[3])
    console.print(table)
    failed = sum(1 for r in rows if r[2] == "-")
    if failed:
        fail(f"{failed} of {len(files)} files were not notarised")
    console.print(
        f"notarised {len(files)} file(s) on chain {client.chain.chain_id}; verify offline with: "
        f"govchain verify {rows[0][3]} {files[0]}"
    )


def _receipt_path(out_dir: Path, source: Path) -> Path:
    target = out_dir / f"{source.name}.receipt.json"
    n = 1
    while target.exists():
        n += 1
        target = out_dir / f"{source.name}.{n}.receipt.json"
    return target
