"""Built-in contracts. Every node of a chain must run the same list."""

from govchain.contracts.audit.contract import CONTRACT as AUDIT
from govchain.contracts.governance.contract import CONTRACT as GOVERNANCE
from govchain.contracts.licence.contract import CONTRACT as LICENCE
from govchain.contracts.membership.contract import CONTRACT as MEMBERSHIP
from govchain.contracts.notary.contract import CONTRACT as NOTARY
from govchain.ledger.contracts import Registry


def default_registry() -> Registry:
    return Registry([AUDIT, GOVERNANCE, LICENCE, MEMBERSHIP, NOTARY])


__all__ = ["default_registry"]
