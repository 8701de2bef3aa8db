//! A request body must arrive within `GATEWAY_BODY_READ_TIMEOUT_SECS`: a caller trickling its
//! body cannot hold a connection (and a worker's attention) open indefinitely.

use crate::helpers::{spawn_app_tuned, token};
use invitation_gateway::auth::Scope;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_body_trickled_slower_than_the_body_read_timeout_is_answered_408_and_closed() {
    let app = spawn_app_tuned(|settings| {
        settings.http.body_read_timeout = Duration::from_secs(1);
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&address).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /v1/invitations/send HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"emails\"",
        token(&[Scope::Send])
    );
    writer.write_all(head.as_bytes()).await.expect("write");
    // One byte of JSON whitespace every 100 ms: the body would take 9 s, far past the 1 s bound.
    let trickle = tokio::spawn(async move {
        for _ in 0..90 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
        }
    });

    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut answer))
        .await
        .expect("the gateway answers and closes long before the body is complete");
    trickle.abort();
    read.expect("read");
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();

    assert!(answer.starts_with("http/1.1 408"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(
        answer.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
}
