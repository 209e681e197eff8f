"""The ledger's rules: transactions, blocks, results, contracts and the state transition."""
