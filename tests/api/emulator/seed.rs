//! Seeds: the demo customer, an empty one, and seed files.

use invitation_gateway::emulator::{Emulator, EmulatorSettings, Seed};
use pretty_assertions::assert_eq;
use serde_json::json;

use super::helpers::spawn_with_seed;

fn seed_file(contents: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("a temp file");
    std::fs::write(file.path(), contents).expect("written");
    file
}

#[tokio::test]
async fn a_seed_file_supplies_the_accounts_with_defaults() {
    let file = seed_file(
        r#"[{"email": "ada@corp.example", "state": "INVITED", "mailsSentCount": 4, "updateTime": "2026-03-12T16:50:14.365Z"},
            {"email": "bob@corp.example", "state": "DECLINED"},
            {"email": "new@corp.example", "recent": true}]"#,
    );
    let app = spawn_with_seed(Seed::from_file(file.path()).expect("a valid seed")).await;

    let ada = app.get_invitation("ada@corp.example").await;
    let bob = app.get_invitation("bob@corp.example").await;

    assert_eq!(
        ada.body,
        json!({
            "name": "customers/C0demo000/userinvitations/ada@corp.example",
            "state": "INVITED",
            "mailsSentCount": "4",
            "updateTime": "2026-03-12T16:50:14.365Z",
        })
    );
    assert_eq!(bob.body["mailsSentCount"], json!("1"));
    app.get_invitation("new@corp.example")
        .await
        .assert_google_error(404, "NOT_FOUND");
    assert_eq!(
        app.is_invitable("new@corp.example").await.body,
        json!({"isInvitableUser": true})
    );
}

#[test]
fn a_seed_file_with_unknown_fields_or_states_is_rejected() {
    for contents in [
        r#"[{"email": "a@b.c", "colour": "red"}]"#,
        r#"[{"email": "a@b.c", "state": "GONE"}]"#,
        "{}",
    ] {
        assert!(
            Seed::from_file(seed_file(contents).path()).is_err(),
            "{contents}"
        );
    }
}

#[tokio::test]
async fn duplicate_or_malformed_seed_addresses_stop_the_start() {
    for contents in [
        r#"[{"email": "a@b.c"}, {"email": "A@b.c"}]"#,
        r#"[{"email": "not-an-address"}]"#,
    ] {
        let seed = Seed::from_file(seed_file(contents).path()).expect("parses");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let started = Emulator::start(
            listener,
            EmulatorSettings {
                seed,
                ..EmulatorSettings::default()
            },
        )
        .await;
        assert!(started.is_err(), "{contents}");
    }
}

#[tokio::test]
async fn the_demo_seed_is_the_same_on_every_start() {
    let first = spawn_with_seed(Seed::Demo).await;
    let second = spawn_with_seed(Seed::Demo).await;

    let url = "?pageSize=200&orderBy=update_time";
    assert_eq!(
        first.get(&first.invitations(url)).await.body,
        second.get(&second.invitations(url)).await.body
    );
}
