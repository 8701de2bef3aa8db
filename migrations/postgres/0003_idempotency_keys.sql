-- Idempotency-Keys: a pending row (status NULL) while the first request executes, then its answer.
CREATE TABLE idempotency_keys (
    caller_iss  TEXT    NOT NULL,
    caller_sub  TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    executor    TEXT    NOT NULL,
    lease_until BIGINT  NOT NULL,
    status      BIGINT,
    body        BYTEA,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    PRIMARY KEY (caller_iss, caller_sub, key)
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
