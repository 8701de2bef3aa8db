-- The send ledger: one claim per (customer, email) at a time, taken before a send or a cancel.
CREATE TABLE address_claims (
    customer   TEXT    NOT NULL,
    email      TEXT    NOT NULL,
    token      TEXT    NOT NULL,
    holder     TEXT    NOT NULL,
    claimed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (customer, email)
);
CREATE INDEX address_claims_expires_at ON address_claims (expires_at);
