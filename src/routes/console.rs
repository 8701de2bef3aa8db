//! The console: one static page for the people who run a migration, at `/console/`.
//!
//! Its files (`assets/console/`) are compiled into the binary, so it works offline and its
//! version always matches the API's. The page calls only the public API on its own origin with
//! the bearer token the person pastes; it needs no token to be fetched and sets no cookie. Every
//! answer carries a Content-Security-Policy that allows nothing but this origin (no inline
//! script, no other host to connect to, no framing), and the usual hardening headers.

use crate::error::{ApiError, ErrorCode};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

/// Where the page lives (with the slash: its files are relative to it).
pub const CONSOLE_PATH: &str = "/console/";

/// The policy of every console answer: this origin only, for everything; no plugin, no
/// `<base>`, no form posting anywhere, no framing. Styles are files too (the page sets none
/// inline), so nothing `unsafe-*` is needed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One file of the console.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/console/",
                $name
            )),
        }
    };
}

/// Every file, each once; `index.html` is the page. tests/api/console.rs checks that every file
/// of `assets/console/` is listed here.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("console.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("chart.js", "text/javascript; charset=utf-8"),
    asset!("ui.js", "text/javascript; charset=utf-8"),
    asset!("views.js", "text/javascript; charset=utf-8"),
    asset!("migration.js", "text/javascript; charset=utf-8"),
    asset!("person.js", "text/javascript; charset=utf-8"),
];

/// Registers `/console` (a redirect), the page and its files.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/console")
            .route(web::get().to(redirect_to_console))
            .route(web::head().to(redirect_to_console)),
    )
    .service(
        web::resource("/console/{file}")
            .route(web::get().to(serve_file))
            .route(web::head().to(serve_file)),
    )
    .service(
        web::resource(CONSOLE_PATH)
            .route(web::get().to(serve_file))
            .route(web::head().to(serve_file)),
    );
}

/// `/console` without the slash: the page's relative file names need it.
async fn redirect_to_console() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, CONSOLE_PATH))
        .finish()
}

/// The page (`/console/`) or one of its files; 304 when the browser has the same bytes.
async fn serve_file(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let name = req.match_info().get("file").unwrap_or("index.html");
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "There is nothing at this path."))?;
    let etag = etag_of(asset.body);
    let unchanged = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.clone()))
        // Kept, but asked for each time: the files change with the binary and their names do
        // not (no build step to put a hash in them); an unchanged file costs a 304.
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    harden(&mut response);
    Ok(if unchanged {
        response.finish()
    } else {
        response
            .insert_header((header::CONTENT_TYPE, asset.content_type))
            .body(asset.body)
    })
}

/// The security headers of every console answer.
fn harden(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header(("cross-origin-opener-policy", "same-origin"))
        .insert_header(("cross-origin-resource-policy", "same-origin"))
        .insert_header((
            "permissions-policy",
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        ));
}

/// A strong entity tag: the first 16 bytes of the file's SHA-256, quoted.
fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_are_unique() {
        let mut names: Vec<_> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len());
    }

    #[test]
    fn entity_tags_follow_the_bytes() {
        assert_eq!(etag_of(b"a"), etag_of(b"a"));
        assert_ne!(etag_of(b"a"), etag_of(b"b"));
        assert_eq!(etag_of(b"a").len(), 34);
    }
}
