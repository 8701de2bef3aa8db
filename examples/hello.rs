//! A bare actix-web server, the baseline of the benchmark (`bench/run.sh`): `POST /` answers a
//! small JSON document and nothing else happens (no auth, no logging, no middleware).
//!
//! It is built from the gateway's own dependency versions (`cargo build --release --locked
//! --example hello`), so the ratio gateway/hello measures what the gateway adds on top of
//! actix-web, not a difference between actix-web versions.
//!
//! Settings: `HELLO_LISTEN` (default `127.0.0.1:0`) and `GATEWAY_WORKERS` (0 or unset: one
//! worker per core, actix-web's default, as in the gateway). The first stdout line is
//! `hello listening on http://ADDR`.

use actix_web::{App, HttpResponse, HttpServer, web};
use std::io::Write as _;
use std::net::TcpListener;

/// Reads the body (as a JSON API must) and answers a fixed, small JSON document.
async fn hello(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"results":[{"email":"hello@example.com","eligible":true,"cached":true}]}"#)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::var("HELLO_LISTEN").unwrap_or_else(|_| "127.0.0.1:0".into());
    let workers: usize = std::env::var("GATEWAY_WORKERS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let listener = TcpListener::bind(&listen)?;
    let address = listener.local_addr()?;
    let mut server =
        HttpServer::new(|| App::new().route("/", web::post().to(hello))).listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    let server = server.run();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "hello listening on http://{address}")?;
    stdout.flush()?;
    drop(stdout);
    server.await
}
