"""Suite registry: one shared instance per suite name.

Suites are imported lazily so a node on the `intl` suite never loads libcrypto through
ctypes (and still works on a host without OpenSSL 3).
"""

from __future__ import annotations

import threading

from govchain.crypto.base import Suite

SUITE_NAMES: tuple[str, ...] = ("intl", "gm")

_instances: dict[str, Suite] = {}
_lock = threading.Lock()


def _create(name: str) -> Suite:
    if name == "intl":
        from govchain.crypto.intl import IntlSuite

        return IntlSuite()
    from govchain.crypto.gm import GmSuite

    return GmSuite()


def get_suite(name: str) -> Suite:
    """The shared suite named `name` ("intl" or "gm"); ValueError for any other name."""
    suite = _instances.get(name)
    if suite is not None:
        return suite
    if name not in SUITE_NAMES:
        raise ValueError(f"unknown crypto suite {name!r}; valid suites: {', '.join(SUITE_NAMES)}")
    with _lock:
        suite = _instances.get(name)
        if suite is None:
            suite = _create(name)
            _instances[name] = suite
    return suite
