//! The emulator, tested over HTTP as Google's clients see it.

mod api;
mod auth;
mod control;
mod faults;
mod helpers;
mod iam;
mod list;
mod seed;
mod token;
