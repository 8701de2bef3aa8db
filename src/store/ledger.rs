//! The send ledger: a claim per (customer, email), taken before any send or cancel, so that two
//! requests, two replicas, or a request and a campaign never act on one person at once.

use super::clock::{from_millis, new_token};
use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::time::Duration;

/// Proof of a claim on one address; pass it to [`Store::release_address`] when done.
///
/// Its `Debug` names neither the address nor the customer.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimToken {
    customer: String,
    email: String,
    token: String,
}

debug_fields!(ClaimToken { token });

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The address is ours until the lease runs out or we release it.
    Claimed(ClaimToken),
    /// Someone else holds it, at the latest until `until` (then their lease can be taken over).
    Held {
        /// When the current holder's lease runs out.
        until: DateTime<Utc>,
    },
}

impl Claim {
    /// Whether the claim was granted.
    pub fn is_claimed(&self) -> bool {
        matches!(self, Claim::Claimed(_))
    }
}

impl Store {
    /// Claims `email` of `customer` for `holder` (a request id or a campaign id, for operators)
    /// during `lease`. A claim whose lease has run out (its holder died) is taken over.
    pub async fn claim_address(
        &self,
        customer: &str,
        email: &str,
        holder: &str,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        // A release between our failed upsert and the read of the holder's lease leaves nothing
        // to read: try again; a handful of rounds only happens under a release storm.
        for _ in 0..5 {
            let (now, expires_at) = self.clock.lease(lease);
            let token = new_token();
            // One statement: the insert, or the takeover of an expired lease, is atomic on both
            // databases (PostgreSQL re-checks the WHERE on the row it locked).
            let claimed = with_pool!(self, pool => sqlx::query(
                "INSERT INTO address_claims (customer, email, token, holder, claimed_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (customer, email) DO UPDATE SET token = excluded.token, \
                 holder = excluded.holder, claimed_at = excluded.claimed_at, \
                 expires_at = excluded.expires_at \
                 WHERE address_claims.expires_at <= $5 \
                 RETURNING token",
            )
            .bind(customer)
            .bind(email)
            .bind(&token)
            .bind(holder)
            .bind(now)
            .bind(expires_at)
            .fetch_optional(pool)
            .await
            .map(|row| row.is_some()))?;
            if claimed {
                return Ok(Claim::Claimed(ClaimToken {
                    customer: customer.to_owned(),
                    email: email.to_owned(),
                    token,
                }));
            }
            let until: Option<i64> = with_pool!(self, pool => sqlx::query(
                "SELECT expires_at FROM address_claims WHERE customer = $1 AND email = $2",
            )
            .bind(customer)
            .bind(email)
            .fetch_optional(pool)
            .await
            .and_then(|row| row.map(|r| r.try_get::<i64, _>("expires_at")).transpose()))?;
            if let Some(until) = until {
                return Ok(Claim::Held {
                    until: from_millis(until),
                });
            }
        }
        Ok(Claim::Held {
            until: self.clock.now(),
        })
    }

    /// Gives up a claim. Answers false when it was no longer ours (its lease ran out and was
    /// taken over): whatever we did meanwhile may have overlapped with the new holder.
    pub async fn release_address(&self, claim: &ClaimToken) -> Result<bool, StoreError> {
        let released = execute!(
            self,
            "DELETE FROM address_claims WHERE customer = $1 AND email = $2 AND token = $3",
            &claim.customer,
            &claim.email,
            &claim.token
        )? == 1;
        Ok(released)
    }

    /// Deletes claims whose lease ran out (their holders died); answers how many.
    pub async fn prune_claims(&self) -> Result<u64, StoreError> {
        self.delete_expired("address_claims").await
    }
}
