"""The ledger checked against what providers billed: their records, the comparison, the import."""
