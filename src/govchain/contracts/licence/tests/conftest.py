"""The shared fixtures of tests/ (a consortium node behind a TestClient, a real node process)."""

from tests.conftest import env
from tests.test_membership_cli import consortium

__all__ = ["consortium", "env"]
