-- Idempotency-Keys: a pending row (status NULL) while the first request executes, then its answer.
CREATE TABLE idempotency_keys (
    caller_iss  TEXT    NOT NULL,
    caller_sub  TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    executor    TEXT    NOT NULL,
    lease_until INTEGER NOT NULL,
    status      INTEGER,
    body        BLOB,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (caller_iss, caller_sub, key)
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
