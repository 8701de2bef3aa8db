//! Black-box tests: the real server on port 0, spoken to over HTTP.

mod cli;
mod errors;
mod health;
mod helpers;
mod openapi;
mod request_id;
mod token;
