"""Guards run before a webhook is stored: signature, dedup, per-user rate limit.

Each is a small unit raising a typed `Rejected` (BadSignature, Duplicate, RateLimited) that
the HTTP layer turns into its SPEC §5 answer. The size guard is in capture.read_body.
"""
