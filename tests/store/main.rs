//! Contract tests of the store against real databases: every test runs on a fresh SQLite file,
//! and on a fresh PostgreSQL database when `GATEWAY_TEST_DATABASE_URL` is set (`.ci/postgres.sh`
//! starts one). Under `CI=true` the PostgreSQL half fails when that variable is missing, so CI
//! cannot silently lose it.

#[macro_use]
mod helpers;
// The fresh-PostgreSQL-database helper the gateway's own multi-process tests use.
#[path = "../api/pg.rs"]
mod pg;

mod audit;
mod campaigns;
mod connect;
mod events;
mod faults;
mod google_budget;
mod idempotency;
mod ledger;
mod mail_budget;
mod secrets;
mod tracking;
