//! Black-box tests: the real server (and the emulator standing in for Google) on port 0,
//! spoken to over HTTP. One binary, one module per area.

mod audit_query;
mod audit_trail;
mod auth_rfc;
mod bad_input;
mod body_timeout;
mod campaign_events;
mod campaign_replicas;
mod campaigns;
mod cli;
mod console;
mod deploy;
mod emulator;
mod errors;
mod events;
mod fault_injection;
mod google;
mod google_budget;
mod health;
mod helpers;
mod metrics;
mod mutations;
mod openapi;
mod pg;
mod privacy;
mod reads;
mod replicas;
mod request_id;
mod roster_import;
mod sandbox;
mod send_async;
mod shutdown;
mod spec_agreement;
mod store;
mod token;
mod tracking;
