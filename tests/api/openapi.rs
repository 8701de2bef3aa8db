use crate::helpers::spawn_app;
use invitation_gateway::error::ErrorCode;
use invitation_gateway::routes::openapi::document_json;
use similar::TextDiff;

const COMMITTED: &str = "openapi/openapi.json";

fn committed_spec() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
        .unwrap_or_default()
}

/// Fails with a unified diff when the committed spec differs from the code. Run with
/// `UPDATE_OPENAPI=1` (or `cargo run -- openapi > openapi/openapi.json`) to regenerate it.
#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = document_json();
    let committed = committed_spec();
    if committed == generated {
        return;
    }
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"),
            &generated,
        )
        .expect("write openapi/openapi.json");
        return;
    }
    let diff = TextDiff::from_lines(&committed, &generated)
        .unified_diff()
        .context_radius(3)
        .header(COMMITTED, "generated from the code")
        .to_string();
    panic!(
        "{COMMITTED} is stale. Regenerate it with `UPDATE_OPENAPI=1 cargo test openapi` \
         or `cargo run -- openapi > {COMMITTED}`.\n{diff}"
    );
}

#[test]
fn openapi_command_prints_the_committed_document() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_invitation-gateway"))
        .arg("openapi")
        .output()
        .expect("run invitation-gateway openapi");
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap(), document_json());
}

#[tokio::test]
async fn the_served_document_declares_bearer_jwt_and_the_problem_schema() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let served: serde_json::Value = response.json().await.unwrap();
    let committed: serde_json::Value = serde_json::from_str(&committed_spec()).unwrap();
    assert_eq!(served, committed);
    let scheme = &served["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");
    let problem = &served["components"]["schemas"]["ProblemDocument"]["properties"];
    for field in ["type", "title", "status", "detail", "code", "requestId"] {
        assert!(
            problem.get(field).is_some(),
            "ProblemDocument lacks {field}"
        );
    }
}

#[tokio::test]
async fn swagger_ui_is_served_and_its_slashless_path_redirects() {
    let app = spawn_app().await;
    let redirect = app.get("/swagger-ui").await;
    assert_eq!(redirect.status().as_u16(), 308);
    assert_eq!(redirect.headers()["location"], "/swagger-ui/");
    let page = app.get("/swagger-ui/").await;
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("Swagger UI"));
    let initializer = app.get("/swagger-ui/swagger-initializer.js").await;
    assert_eq!(initializer.status().as_u16(), 200);
    assert!(initializer.text().await.unwrap().contains("/openapi.json"));
}

#[tokio::test]
async fn every_documented_query_parameter_is_one_the_handler_accepts() {
    let app = spawn_app().await;
    let spec: serde_json::Value =
        serde_json::to_value(invitation_gateway::routes::openapi::document()).unwrap();
    let valid = |name: &str| match name {
        "state" => "INVITED",
        "orderBy" => "updateTime%20desc",
        "pageSize" => "5",
        other => panic!("undocumented in this test: {other}"),
    };
    let token = crate::helpers::admin_token();
    let mut checked = 0;
    for path in ["/v1/invitations", "/v1/invitations/export"] {
        for parameter in spec["paths"][path]["get"]["parameters"].as_array().unwrap() {
            let name = parameter["name"].as_str().unwrap();
            if parameter["in"] != "query" || name == "pageToken" {
                continue;
            }
            let answer = app
                .get_as(&format!("{path}?{name}={}", valid(name)), &token)
                .await;
            assert_eq!(answer.status, 200, "{path}?{name}: {}", answer.body);
            checked += 1;
        }
    }
    assert_eq!(
        checked, 4,
        "state, orderBy, pageSize on list; state on export"
    );
}

/// Every problem answer of every operation shows an example, and the example is the one the
/// error-code table gives for a code answered with that very status; its headers are documented.
#[test]
fn every_documented_problem_shows_the_tables_example_for_its_status() {
    let spec = serde_json::to_value(invitation_gateway::routes::openapi::document()).unwrap();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                let Some(problem) = response["content"].get("application/problem+json") else {
                    continue;
                };
                let example = &problem["example"];
                let code = ErrorCode::ALL
                    .iter()
                    .find(|code| example["code"] == code.as_str())
                    .unwrap_or_else(|| panic!("{method} {path} {status}: no example"));
                assert_eq!(
                    code.status().as_str(),
                    status,
                    "{method} {path}: the {status} example is {code}"
                );
                assert_eq!(
                    example,
                    &serde_json::to_value(code.example()).unwrap(),
                    "{method} {path} {status}"
                );
                // The headers error.rs and the auth extractor put on these statuses.
                let header = match status.as_str() {
                    "429" | "503" => Some("Retry-After"),
                    "401" | "403" => Some("WWW-Authenticate"),
                    _ => None,
                };
                if let Some(header) = header {
                    assert!(
                        response["headers"].get(header).is_some(),
                        "{method} {path} {status} does not document {header}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} problem answers documented");
}

#[test]
fn no_operation_declares_a_parameter_twice() {
    // A path parameter documented both by the handler's extractor and by hand appears twice,
    // which Swagger UI cannot fill (the e2e run found it on the campaign operations).
    let spec: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let mut seen = std::collections::BTreeSet::new();
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let key = (parameter["name"].to_string(), parameter["in"].to_string());
                assert!(
                    seen.insert(key.clone()),
                    "{method} {path} declares {key:?} twice"
                );
            }
        }
    }
}
