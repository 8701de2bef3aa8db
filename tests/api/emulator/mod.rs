//! The emulator, tested over HTTP as Google's clients see it.

mod api;
mod auth;
mod command;
mod control;
mod faults;
mod fidelity;
mod helpers;
mod iam;
mod list;
mod quota;
mod seed;
mod setup;
mod token;
