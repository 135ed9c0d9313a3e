"""Health points (健康积分): rules as data, an append-only ledger, the public self-lookup."""
