"""The browser harness itself: Debian chromium starts headless and loads the node's portal."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.web.conftest import RunningNode, shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_portal_loads_in_chromium(page: Page, intl_node: RunningNode) -> None:
    page.goto(intl_node.url + "/")
    assert page.title()
    shot(page, "smoke")
