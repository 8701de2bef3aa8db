-- Secrets every replica must share and nobody configured: the first replica to start creates
-- each one (a random value) and every replica, now and after restarts, reads the same. Today
-- only the key of the keyed email hash (log tags, event subjects) when GATEWAY_LOG_HASH_KEY is
-- unset. The store already holds the emails the hash stands for, so the key adds no exposure.
CREATE TABLE shared_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
