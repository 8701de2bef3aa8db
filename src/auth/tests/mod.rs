//! The extractor end to end: a probe route behind the foundation's middleware, a real
//! `AppState`, real tokens. One behaviour per test.

mod extractor;
mod jwks;
mod support;
mod token_cache;
