//! Secrets the replicas share without configuration: created once by whichever replica asks
//! first, read by every other one and after restarts.

use super::{Store, StoreError};
use sqlx::Row;

impl Store {
    /// The shared secret `name`: `candidate` when this call is the first to ask for it, the
    /// value stored by the first caller otherwise (one statement: two replicas asking at once
    /// agree).
    pub async fn shared_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        let value = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO shared_secrets (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(candidate)
            .execute(pool)
            .await?;
            sqlx::query("SELECT value FROM shared_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await
                .and_then(|row| row.try_get::<String, _>("value"))
        })?;
        Ok(value)
    }
}
