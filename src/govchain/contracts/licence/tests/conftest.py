"""The shared fixtures of tests/ (a consortium node behind a TestClient, a real node process, a network)."""

from tests.conftest import env
from tests.network.test_network import network
from tests.test_membership_cli import consortium

__all__ = ["consortium", "env", "network"]
