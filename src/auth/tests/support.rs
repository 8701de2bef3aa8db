//! Test keys, token builders, settings and the probe app.

use crate::auth::scope;
use crate::config::{
    AuditSettings, GoogleCredentials, GoogleSettings, GoogleTimeouts, HttpSettings, JwtSettings,
    LimitSettings, ProtectionSettings, RetrySettings, Settings,
};
use crate::emulator::{Emulator, EmulatorKey, EmulatorSettings};
use crate::middleware::{problems, request_id};
use crate::routes::authorized::Authorized;
use crate::state::AppState;
use actix_web::http::header::HeaderMap;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, test, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use std::sync::OnceLock;

pub const SECRET: &str = "test-secret-test-secret-test-secret!";
pub const ISSUER: &str = "https://idp.example.com";
pub const AUDIENCE: &str = "invitation-gateway";

/// An RSA test key pair, in the forms the tests need.
pub struct RsaKey {
    pub private_pem: String,
    pub public_pem: String,
    pub n: String,
    pub e: String,
}

impl RsaKey {
    pub fn encoding_key(&self) -> EncodingKey {
        EncodingKey::from_rsa_pem(self.private_pem.as_bytes()).expect("test key")
    }

    /// The key as a JWK with `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": self.n, "e": self.e})
    }
}

/// Three RSA keys, generated once per test process (generation is the slow part).
pub fn rsa_keys() -> &'static [RsaKey; 3] {
    static KEYS: OnceLock<[RsaKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = || {
            let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
            let public = private.to_public_key();
            RsaKey {
                private_pem: private.to_pkcs1_pem(LineEnding::LF).unwrap().to_string(),
                public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
                n: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                e: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            }
        };
        [make(), make(), make()]
    })
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Valid claims for `sub` with `scope`.
pub fn claims(scope: &str) -> Value {
    let now = now();
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "hr-system",
        "iat": now, "nbf": now, "exp": now + 600, "scope": scope,
    })
}

/// `claims` with one claim replaced (or removed with `Value::Null`).
pub fn claims_with(scope: &str, key: &str, value: Value) -> Value {
    let mut claims = claims(scope);
    if value.is_null() {
        claims.as_object_mut().unwrap().remove(key);
    } else {
        claims[key] = value;
    }
    claims
}

pub fn hs256(claims: &Value) -> String {
    sign(
        claims,
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        None,
    )
}

pub fn sign(claims: &Value, alg: Algorithm, key: &EncodingKey, kid: Option<&str>) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// A token with exactly this header (which `jsonwebtoken::Header` may not be able to express),
/// correctly signed with `key`.
pub fn sign_with_header(
    header: &Value,
    claims: &Value,
    alg: Algorithm,
    key: &EncodingKey,
) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), key, alg).unwrap();
    format!("{signing_input}.{signature}")
}

/// A token assembled by hand: any header, any claims, any signature.
pub fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Settings with the HS256 secret and nothing upstream.
pub fn settings() -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        customer: "my_customer".into(),
        // Replaced by `app_state` with a running emulator's.
        google: GoogleSettings {
            credentials: GoogleCredentials::KeyFile {
                path: "/nonexistent/key.json".into(),
                delegated_admin: "admin@example.com".into(),
            },
            api_url: "http://127.0.0.1:9".into(),
            iam_url: "http://127.0.0.1:9".into(),
            token_url: "http://127.0.0.1:9/token".into(),
            readonly: false,
            timeouts: GoogleTimeouts::default(),
            retry: RetrySettings::default(),
            protection: ProtectionSettings::default(),
        },
        jwt: JwtSettings {
            hs256_secret: Some(SECRET.into()),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            ..JwtSettings::default()
        },
        allowed_domains: Vec::new(),
        http: HttpSettings::default(),
        limits: LimitSettings {
            requests_per_second: 1000,
            burst: 1000,
            daily_mails_per_caller: 10,
        },
        audit: AuditSettings::default(),
        log_hash_key: None,
        invitations: Default::default(),
        // One connection: each in-memory SQLite connection is a database of its own.
        store: crate::config::StoreSettings {
            database_url: "sqlite::memory:".into(),
            max_connections: 1,
            ..Default::default()
        },
        // No tracker: these tests count Google calls.
        tracking: crate::config::TrackingSettings {
            interval: std::time::Duration::ZERO,
            ..Default::default()
        },
        gcp_project: None,
    }
}

/// What the probe answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts a 401 `invalid_token` whose challenge names no error: the request carried no
    /// bearer credentials (RFC 6750 section 3.1).
    pub fn assert_no_credentials(&self) {
        assert_eq!(self.status, 401, "{self:?}");
        assert_eq!(self.body["code"], "invalid_token", "{self:?}");
        assert_eq!(self.header("www-authenticate"), "Bearer");
    }

    /// Asserts a 401 `invalid_token` with its challenge.
    pub fn assert_invalid_token(&self) {
        assert_eq!(self.status, 401, "{self:?}");
        assert_eq!(self.body["code"], "invalid_token", "{self:?}");
        assert_eq!(
            self.header("www-authenticate"),
            r#"Bearer error="invalid_token""#
        );
        assert_eq!(
            self.body["detail"], "A valid bearer token is required in the Authorization header.",
            "the body never says which check failed"
        );
    }
}

async fn probe(caller: Authorized<scope::Send>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "iss": caller.id.iss,
        "sub": caller.id.sub,
        "scopes": caller.scopes.to_string(),
    }))
}

/// POSTs to `uri` (a `/probe` requiring `invitations.send`) with an optional bearer token.
pub async fn call(state: &AppState, uri: &str, token: Option<&str>) -> Answer {
    let mut request = test::TestRequest::post().uri(uri);
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    send(state, request).await
}

/// Sends any request to the probe app.
pub async fn send(state: &AppState, request: test::TestRequest) -> Answer {
    send_all(state, vec![request]).await.remove(0)
}

/// Sends requests concurrently to one probe app (building an app per request would starve the
/// single-threaded test runtime, and with it any fetch under way).
pub async fn send_all(state: &AppState, requests: Vec<test::TestRequest>) -> Vec<Answer> {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state.clone()))
            .route("/probe", web::post().to(probe))
            .wrap(from_fn(problems::render_problems))
            .wrap(from_fn(request_id::observe_request)),
    )
    .await;
    let app = &app;
    futures_util::future::join_all(requests.into_iter().map(|request| async move {
        let response = test::call_service(app, request.to_request()).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = test::read_body(response).await;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }))
    .await
}

/// A POST to the probe with this bearer token.
pub fn probe_request(token: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri("/probe")
        .insert_header(("authorization", format!("Bearer {token}")))
}

/// The application state for `settings`, with its Google credentials issued by a running
/// emulator: the state always holds a working Google client, though these tests never call it.
pub async fn app_state(mut settings: Settings) -> AppState {
    static KEY: OnceLock<EmulatorKey> = OnceLock::new();
    let key = KEY
        .get_or_init(|| EmulatorKey::generate().expect("RSA key"))
        .clone();
    crate::install_crypto_provider();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let emulator = Emulator::start(
        listener,
        EmulatorSettings {
            key: Some(key),
            ..EmulatorSettings::default()
        },
    )
    .await
    .expect("the emulator starts");
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("key.json");
    emulator.write_key(&path).expect("write the key");
    settings.google.credentials = GoogleCredentials::KeyFile {
        path,
        delegated_admin: "admin@example.com".into(),
    };
    settings.google.api_url = emulator.url().to_owned();
    settings.google.iam_url = emulator.url().to_owned();
    settings.google.token_url = emulator.token_url();
    // The key is read at build; the directory may go afterwards.
    AppState::build(settings).await.expect("the state builds")
}
