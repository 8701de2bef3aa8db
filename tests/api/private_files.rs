//! The files that hold personal data (the SQLite database, its `-wal` and `-shm`, the audit
//! file) are created readable by their owner alone, even under the usual umask 022, and an
//! existing one that others can read is reported at start.

use crate::helpers::{Running, spawn_google, start_binary_with_umask};
use crate::replicas::{listening_address, replica_env};
use invitation_gateway::emulator::Seed;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The files a gateway keeps in `dir`: the database, its `-wal` and `-shm`, the audit file.
fn files(dir: &Path) -> [PathBuf; 4] {
    [
        dir.join("gateway.db"),
        dir.join("gateway.db-wal"),
        dir.join("gateway.db-shm"),
        dir.join("audit.jsonl"),
    ]
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{} exists: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Starts `serve` under umask 022 with its database and audit file in `dir`; answers the
/// process and the log lines it wrote before it listened.
async fn serve_in(dir: &Path) -> (Running, Vec<Value>) {
    let google = spawn_google(Seed::Demo).await;
    let url = format!("sqlite://{}", dir.join("gateway.db").display());
    let audit = dir.join("audit.jsonl");
    let env = replica_env(
        &google,
        &url,
        &[("GATEWAY_AUDIT_FILE", audit.to_str().expect("a UTF-8 path"))],
    );
    let (process, lines) =
        start_binary_with_umask("022", &["serve", "--listen", "127.0.0.1:0"], env, true);
    let mut seen = Vec::new();
    listening_address(&lines, |line| seen.push(line.clone()));
    (process, seen)
}

#[tokio::test]
async fn files_holding_personal_data_are_created_for_their_owner_alone() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (_process, seen) = serve_in(dir.path()).await;
    for file in files(dir.path()) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    assert!(
        !seen.iter().any(|line| line["severity"] == "WARNING"
            && line["message"]
                .as_str()
                .is_some_and(|m| m.contains("readable by users other than its owner"))),
        "no warning about files the gateway made itself"
    );
}

#[tokio::test]
async fn an_existing_file_others_can_read_is_reported_at_start() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let [database, _, _, audit] = files(dir.path());
    for file in [&database, &audit] {
        std::fs::write(file, b"").expect("write");
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let (_process, seen) = serve_in(dir.path()).await;
    for file in [&database, &audit] {
        let warned = seen.iter().any(|line| {
            line["severity"] == "WARNING"
                && line["file"] == file.display().to_string()
                && line["mode"] == "644"
                && line["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("chmod 600"))
        });
        assert!(warned, "a warning names {}: {seen:#?}", file.display());
        // Reported, not changed: the operator decides.
        assert_eq!(mode(file), 0o644);
    }
}
