//! Starting an emulator and talking to it like a client of Google would.

use invitation_gateway::emulator::{
    CUSTOMER_ID, Emulator, EmulatorSettings, Seed, USERINVITATIONS_READONLY_SCOPE,
    USERINVITATIONS_SCOPE,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// Google's token URL, the audience Google's own libraries use.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The admin the demo emulator accepts as `sub`.
pub const ADMIN: &str = "admin@example.com";

/// A running emulator and a client holding a read-write access token.
pub struct TestEmulator {
    pub emulator: Emulator,
    pub http: reqwest::Client,
    /// An access token with the read-write User Invitation scope, from the real `/token`.
    pub token: String,
    key: Value,
}

/// An HTTP answer, body parsed as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("the body can be read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The Google error `status` name.
    pub fn error_status(&self) -> &str {
        self.body["error"]["status"]
            .as_str()
            .unwrap_or("<no status>")
    }

    /// Asserts a Google error of this HTTP code and status name, in Google's JSON shape.
    #[track_caller]
    pub fn assert_google_error(&self, code: u16, status: &str) {
        assert_eq!(self.status, code, "{:?}", self.body);
        assert_eq!(self.error_status(), status, "{:?}", self.body);
        assert_eq!(self.body["error"]["code"], json!(code));
        assert_eq!(
            self.body["error"]["details"][0]["@type"],
            json!("type.googleapis.com/google.rpc.ErrorInfo")
        );
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
    }
}

/// Starts a demo emulator.
pub async fn spawn_emulator() -> TestEmulator {
    spawn_with(EmulatorSettings::default()).await
}

/// Starts an emulator with these accounts.
pub async fn spawn_with_seed(seed: Seed) -> TestEmulator {
    spawn_with(EmulatorSettings {
        seed,
        ..EmulatorSettings::default()
    })
    .await
}

/// Starts an emulator on a free loopback port and obtains a read-write token through `/token`.
pub async fn spawn_with(mut settings: EmulatorSettings) -> TestEmulator {
    settings.key.get_or_insert_with(crate::helpers::shared_key);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let emulator = Emulator::start(listener, settings)
        .await
        .expect("the emulator starts");
    let key: Value =
        serde_json::from_str(emulator.service_account_key_json()).expect("the key is JSON");
    let mut app = TestEmulator {
        emulator,
        http: reqwest::Client::new(),
        token: String::new(),
        key,
    };
    app.token = app.token_for(USERINVITATIONS_SCOPE).await;
    app
}

impl TestEmulator {
    /// Absolute URL of a path on the emulator.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.url())
    }

    /// URL of `customers/C0demo000/userinvitations` followed by `rest`.
    pub fn invitations(&self, rest: &str) -> String {
        self.url(&format!(
            "/v1/customers/{CUSTOMER_ID}/userinvitations{rest}"
        ))
    }

    /// GET with the read-write token.
    pub async fn get(&self, url: &str) -> Reply {
        self.get_as(url, Some(&self.token)).await
    }

    /// GET with a given token (or none).
    pub async fn get_as(&self, url: &str, token: Option<&str>) -> Reply {
        let mut request = self.http.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::read(request.send().await.expect("the emulator answers")).await
    }

    /// POST `{}` with the read-write token.
    pub async fn post(&self, url: &str) -> Reply {
        self.post_as(url, Some(&self.token), "{}").await
    }

    /// POST a raw body with a given token (or none).
    pub async fn post_as(&self, url: &str, token: Option<&str>, body: &str) -> Reply {
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::read(request.send().await.expect("the emulator answers")).await
    }

    /// send to an address (raw in the path).
    pub async fn send(&self, email: &str) -> Reply {
        self.post(&self.invitations(&format!("/{email}:send")))
            .await
    }

    /// cancel for an address (raw in the path).
    pub async fn cancel(&self, email: &str) -> Reply {
        self.post(&self.invitations(&format!("/{email}:cancel")))
            .await
    }

    /// get of an address (raw in the path).
    pub async fn get_invitation(&self, email: &str) -> Reply {
        self.get(&self.invitations(&format!("/{email}"))).await
    }

    /// isInvitableUser of an address (raw in the path).
    pub async fn is_invitable(&self, email: &str) -> Reply {
        self.get(&self.invitations(&format!("/{email}:isInvitableUser")))
            .await
    }

    /// POST a JSON body to the control API.
    pub async fn control(&self, path: &str, body: Value) -> Reply {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("the emulator answers");
        Reply::read(response).await
    }

    /// The control API's stats.
    pub async fn stats(&self) -> Value {
        self.get_as(&self.url("/emulator/v1/stats"), None)
            .await
            .body
    }

    /// The service account's `client_email` from the key file.
    pub fn client_email(&self) -> String {
        self.key["client_email"]
            .as_str()
            .expect("client_email")
            .to_string()
    }

    /// The key file's `private_key_id`.
    pub fn private_key_id(&self) -> String {
        self.key["private_key_id"]
            .as_str()
            .expect("private_key_id")
            .to_string()
    }

    /// Claims of a fresh delegated assertion (Google's audience, one hour).
    pub fn claims(&self, scope: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.client_email(),
            "sub": ADMIN,
            "scope": scope,
            "aud": GOOGLE_TOKEN_URL,
            "iat": now,
            "exp": now + 3600,
        })
    }

    /// Signs claims RS256 with the key file, header carrying the key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.private_key_id());
        self.sign_with_header(&header, claims)
    }

    /// Signs claims with the key file under a given header.
    pub fn sign_with_header(&self, header: &Header, claims: &Value) -> String {
        let pem = self.key["private_key"].as_str().expect("private_key");
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("the key file's key loads");
        jsonwebtoken::encode(header, claims, &key).expect("the claims sign")
    }

    /// Exchanges an assertion at `/token`.
    pub async fn exchange(&self, assertion: &str) -> Reply {
        let response = self
            .http
            .post(self.emulator.token_url())
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion),
            ])
            .send()
            .await
            .expect("the emulator answers");
        Reply::read(response).await
    }

    /// A delegated access token for these scopes.
    pub async fn token_for(&self, scope: &str) -> String {
        self.grant(&self.claims(scope)).await
    }

    /// A read-only delegated token.
    pub async fn readonly_token(&self) -> String {
        self.token_for(USERINVITATIONS_READONLY_SCOPE).await
    }

    /// The service account's own token (no `sub`) for a scope.
    pub async fn own_token(&self, scope: &str) -> String {
        let mut claims = self.claims(scope);
        claims
            .as_object_mut()
            .expect("claims are an object")
            .remove("sub");
        self.grant(&claims).await
    }

    /// Signs the claims and exchanges them, asserting the grant succeeds.
    async fn grant(&self, claims: &Value) -> String {
        let reply = self.exchange(&self.sign(claims)).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }
}

/// The emails of a list answer, in order.
pub fn emails(body: &Value) -> Vec<String> {
    body["userInvitations"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let name = item["name"].as_str().unwrap_or_default();
                    name.rsplit('/').next().unwrap_or_default().to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}
