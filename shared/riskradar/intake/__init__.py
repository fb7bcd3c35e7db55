"""Report intake: decode and validate requests, redact and pseudonymise, enqueue idempotently.

`validation` and `preparation` are pure; `enqueue` is the only part that talks to AWS (through the
queue adapter and Powertools idempotency).
"""
