"""The chain explorer: status, live blocks, blocks, transactions, organisations, members, search."""

from govchain.web.explorer.feed import feed_router
from govchain.web.module import NavLink, PortalModule

PORTAL = PortalModule(
    name="explorer",
    package="govchain.web.explorer",
    pages=("/", "/blocks/{ref}", "/txs/{tx_id}", "/orgs", "/orgs/{org_id}", "/members", "/search"),
    scripts=("explorer.js",),
    nav=(
        NavLink("/", "区块浏览器", "Explorer"),
        NavLink("/orgs", "组织", "Organisations"),
        NavLink("/members", "成员", "Members"),
    ),
    routes=feed_router,
    order=10,
)
