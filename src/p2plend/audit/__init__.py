"""The audit log: append-only, hash-chained records of staff acts, security events, money movements (R17)."""
