"""Audited reads of restricted data: every such read is a transaction, so readers are on record."""
