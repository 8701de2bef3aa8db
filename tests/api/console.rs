//! The console (`/console/`): a static page for the people who run a migration. It is served by
//! the binary itself (vendored, offline) under a strict Content-Security-Policy, and none of its
//! files may name another origin.

use crate::helpers::{TestApp, assert_problem, spawn_app};
use std::path::PathBuf;

/// The console's source files, as committed: every one must be served.
fn asset_names() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/console");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("assets/console exists")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .into_string()
                .expect("asset names are UTF-8")
        })
        .collect();
    names.sort();
    names
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The path a file is served at: `index.html` is the page itself.
fn path_of(name: &str) -> String {
    if name == "index.html" {
        "/console/".to_owned()
    } else {
        format!("/console/{name}")
    }
}

async fn fetch(app: &TestApp, path: &str) -> reqwest::Response {
    app.get(path).await
}

/// The security headers every console answer carries.
fn assert_locked_down(response: &reqwest::Response, path: &str) {
    let csp = header(response, "content-security-policy");
    for directive in [
        "default-src 'self'",
        "connect-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{path}: CSP `{csp}` lacks {directive}"
        );
    }
    assert!(
        !csp.contains("unsafe"),
        "{path}: CSP `{csp}` allows unsafe sources"
    );
    assert!(!csp.contains('*'), "{path}: CSP `{csp}` has a wildcard");
    assert_eq!(
        header(response, "x-content-type-options"),
        "nosniff",
        "{path}"
    );
    assert_eq!(header(response, "referrer-policy"), "no-referrer", "{path}");
    assert_eq!(header(response, "x-frame-options"), "DENY", "{path}");
    assert_eq!(
        header(response, "cross-origin-opener-policy"),
        "same-origin",
        "{path}"
    );
}

#[tokio::test]
async fn console_without_the_slash_redirects_to_the_page() {
    let app = spawn_app().await;
    let response = fetch(&app, "/console").await;
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(header(&response, "location"), "/console/");
}

#[tokio::test]
async fn the_console_page_is_html_under_a_strict_csp() {
    let app = spawn_app().await;
    let response = fetch(&app, "/console/").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "text/html; charset=utf-8"
    );
    assert_locked_down(&response, "/console/");
    let page = response.text().await.unwrap();
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    // No inline script: the CSP would refuse it anyway, and the page must not depend on it.
    assert!(
        !page.contains("<script>") && !page.contains("<script type=\"module\">"),
        "inline script in the page"
    );
    assert!(
        page.contains("src=\"console.js\""),
        "the page loads console.js"
    );
}

#[tokio::test]
async fn every_console_file_is_served_with_its_content_type_and_revalidated() {
    let app = spawn_app().await;
    let names = asset_names();
    for wanted in ["index.html", "console.css", "console.js"] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
    }
    for name in &names {
        let path = path_of(name);
        let response = fetch(&app, &path).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let expected = match name.rsplit('.').next() {
            Some("html") => "text/html; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("{name}: no content type expected for {other:?}"),
        };
        assert_eq!(header(&response, "content-type"), expected, "{path}");
        assert_locked_down(&response, &path);
        // Files change with the binary: the browser keeps them but asks each time, and an
        // unchanged one costs a 304 without a body.
        assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
        let etag = header(&response, "etag");
        assert!(
            etag.starts_with('"') && etag.len() > 10,
            "{path}: etag {etag}"
        );
        let body = response.bytes().await.unwrap();
        let on_disk = std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("assets/console")
                .join(name),
        )
        .unwrap();
        assert_eq!(
            body.as_ref(),
            on_disk.as_slice(),
            "{path} is the committed file"
        );

        let again = app
            .client
            .get(format!("{}{path}", app.address))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 304, "{path}");
        assert_eq!(header(&again, "etag"), etag, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn no_console_file_names_another_origin() {
    let app = spawn_app().await;
    for name in asset_names() {
        let path = path_of(&name);
        let text = fetch(&app, &path).await.text().await.unwrap();
        let lower = text.to_ascii_lowercase();
        for needle in [
            "http://",
            "https://",
            "src=\"//",
            "href=\"//",
            "url(//",
            "url(\"//",
        ] {
            assert!(!lower.contains(needle), "{path} names `{needle}`");
        }
    }
}

#[tokio::test]
async fn the_console_needs_no_token_and_sets_no_cookie() {
    let app = spawn_app().await;
    for name in asset_names() {
        let path = path_of(&name);
        let response = fetch(&app, &path).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert!(response.headers().get("set-cookie").is_none(), "{path}");
    }
}

#[tokio::test]
async fn an_unknown_console_file_is_a_404_problem() {
    let app = spawn_app().await;
    for path in [
        "/console/nothing.js",
        "/console/..%2fCargo.toml",
        "/console/a/b.js",
    ] {
        assert_problem(fetch(&app, path).await, 404, "not_found").await;
    }
}
