"""A node's chain on disk: its data directory, genesis, signing key and store.

Layout of a data directory (docs/architecture.md, "Data directory"):
- `genesis.cbor`   the genesis document (its hash is the chain id anyone can pin)
- `node-key.json`  the node's header-signing key, file mode 0600
- `chain.db`       the SQLite store (plus its -wal and -shm files)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.ledger.blocks import ChainParams, Genesis

GENESIS_FILE = "genesis.cbor"
NODE_KEY_FILE = "node-key.json"
DB_FILE = "chain.db"
DEV_CHAIN_ID = "govchain-dev"


@dataclass(frozen=True, slots=True)
class ChainFiles:
    data_dir: Path

    @property
    def genesis(self) -> Path:
        return self.data_dir / GENESIS_FILE

    @property
    def node_key(self) -> Path:
        return self.data_dir / NODE_KEY_FILE

    @property
    def db(self) -> Path:
        return self.data_dir / DB_FILE

    def exists(self) -> bool:
        return self.genesis.exists()


def create_dev_chain(
    data_dir: Path, suite_name: str, chain_id: str = DEV_CHAIN_ID, params: ChainParams | None = None
) -> Genesis:
    """A new single-signer development chain whose only signer is this node's key."""
    files = ChainFiles(data_dir)
    if files.exists():
        raise FileExistsError(f"{data_dir} already holds a chain")
    suite = get_suite(suite_name)
    data_dir.mkdir(parents=True, exist_ok=True)
    key = KeyFile.generate(suite)
    key.save(files.node_key)
    genesis = Genesis(
        chain_id=chain_id,
        suite=suite.name,
        time=int(time.time() * 1000),
        signers=(key.keys.public,),
        params=params or ChainParams(),
    )
    tmp = files.genesis.with_suffix(".tmp")
    tmp.write_bytes(genesis.encode())
    os.replace(tmp, files.genesis)
    return genesis


def load_genesis(data_dir: Path) -> Genesis:
    return Genesis.decode(ChainFiles(data_dir).genesis.read_bytes())


def adopt_genesis(data_dir: Path, genesis_bytes: bytes, node_key: KeyFile) -> Genesis:
    """Start a data directory on an existing genesis (e.g. a consortium's), signing as `node_key`."""
    files = ChainFiles(data_dir)
    if files.exists():
        raise FileExistsError(f"{data_dir} already holds a chain")
    genesis = Genesis.decode(genesis_bytes)
    if node_key.suite != genesis.suite:
        raise ValueError(f"the node key is for suite {node_key.suite}, the chain uses {genesis.suite}")
    data_dir.mkdir(parents=True, exist_ok=True)
    node_key.save(files.node_key)
    tmp = files.genesis.with_suffix(".tmp")
    tmp.write_bytes(genesis_bytes)
    os.replace(tmp, files.genesis)
    return genesis
