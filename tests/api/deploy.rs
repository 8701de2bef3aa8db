//! The deployment files agree with the server: Kubernetes waits long enough for the shutdown
//! sequence (preStop + drain + shutdown timeout + margin), the key file is where the settings
//! say, and the image's user is the one the pod runs as.
//!
//! Plain line scanning of the few fields involved: the files are ours and simple, and CI
//! validates them in full against the Kubernetes schemas (`.ci/run`).

use invitation_gateway::config::{GoogleTimeouts, HttpSettings, check_shutdown_timing};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Time left for the process to exit after the server's own bound (thread joins, the kubelet's
/// own latency). `k8s/base/deployment.yaml` states the same number in its comment.
const MARGIN_SECS: u64 = 10;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// `KEY=VALUE` lines of a kustomize env file.
fn env_file(path: &str) -> BTreeMap<String, String> {
    read(path)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The integer after `key:` on the first line that has it.
fn yaml_number(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix(key)?.strip_prefix(':')?;
        value.trim().trim_matches('"').parse().ok()
    })
}

/// The lines of a YAML text that are not comments.
fn yaml_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// `lifecycle.preStop.sleep.seconds`, `None` without a preStop hook.
fn pre_stop_sleep(text: &str) -> Option<u64> {
    let mut lines = yaml_lines(text).skip_while(|line| *line != "preStop:");
    lines.next()?;
    assert_eq!(
        lines.next(),
        Some("sleep:"),
        "a preStop hook other than sleep: teach this test its duration"
    );
    let seconds = lines.next().unwrap_or_default();
    Some(yaml_number(seconds, "seconds").expect("preStop.sleep.seconds"))
}

/// Whether a non-comment line of `text` mentions `word`.
fn mentions(text: &str, word: &str) -> bool {
    yaml_lines(text).any(|line| line.contains(word))
}

/// The overlays under `k8s/overlays/`, by name.
fn overlays() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s/overlays");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.join("kustomization.yaml").is_file())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The server's drain and shutdown timeout under `settings`, its defaults where unset.
fn shutdown_secs(settings: &BTreeMap<String, String>) -> (u64, u64) {
    let defaults = HttpSettings::default();
    let value = |key: &str, default: u64| {
        settings.get(key).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{key}={v} is not a number of seconds"))
        })
    };
    (
        value(
            "GATEWAY_SHUTDOWN_DRAIN_SECS",
            defaults.shutdown_drain.as_secs(),
        ),
        value(
            "GATEWAY_SHUTDOWN_TIMEOUT_SECS",
            defaults.shutdown_timeout.as_secs(),
        ),
    )
}

/// The base and every overlay: name, grace period, preStop sleep, settings (base env first).
fn trees() -> Vec<(String, u64, u64, BTreeMap<String, String>)> {
    let deployment = read("k8s/base/deployment.yaml");
    let base = env_file("k8s/base/gateway.env");
    let base_grace = yaml_number(&deployment, "terminationGracePeriodSeconds")
        .expect("the Deployment sets terminationGracePeriodSeconds");
    // Without the pause the server would start draining while endpoints still list the pod.
    let base_pre_stop = pre_stop_sleep(&deployment)
        .expect("the Deployment has a lifecycle.preStop.sleep hook (endpoints go first)");
    assert!(base_pre_stop > 0, "a preStop sleep of 0 s pauses nothing");

    let mut trees = vec![("base".to_owned(), base_grace, base_pre_stop, base.clone())];
    let overlays = overlays();
    assert!(
        overlays.iter().any(|name| name == "example"),
        "{overlays:?}"
    );
    for name in overlays {
        let kustomization = read(&format!("k8s/overlays/{name}/kustomization.yaml"));
        let grace = yaml_number(&kustomization, "terminationGracePeriodSeconds");
        let pre_stop = pre_stop_sleep(&kustomization);
        // What this scanner cannot read must not change the sum unseen.
        assert!(
            grace.is_some() || !mentions(&kustomization, "terminationGracePeriodSeconds"),
            "{name}: set terminationGracePeriodSeconds in a strategic merge patch"
        );
        assert!(
            pre_stop.is_some() || !mentions(&kustomization, "preStop"),
            "{name}: set preStop in a strategic merge patch"
        );
        assert!(
            !mentions(&kustomization, "GATEWAY_SHUTDOWN_"),
            "{name}: shutdown settings belong in its gateway.env"
        );
        let mut settings = base.clone();
        let env = format!("k8s/overlays/{name}/gateway.env");
        if Path::new(env!("CARGO_MANIFEST_DIR")).join(&env).is_file() {
            settings.extend(env_file(&env));
        }
        trees.push((
            name,
            grace.unwrap_or(base_grace),
            pre_stop.unwrap_or(base_pre_stop),
            settings,
        ));
    }
    trees
}

#[test]
fn the_grace_period_covers_pre_stop_drain_shutdown_timeout_and_a_margin() {
    let trees = trees();
    for (name, grace, pre_stop, settings) in &trees {
        let (drain, timeout) = shutdown_secs(settings);
        let needed = pre_stop + drain + timeout + MARGIN_SECS;
        assert!(
            *grace >= needed,
            "{name}: terminationGracePeriodSeconds {grace} < preStop {pre_stop} + drain {drain} + shutdown timeout {timeout} + margin {MARGIN_SECS}"
        );
    }
}

#[test]
fn every_tree_gives_a_send_that_started_time_to_finish_and_be_recorded() {
    for (name, _, _, settings) in trees() {
        let (drain, timeout) = shutdown_secs(&settings);
        let mut timeouts = GoogleTimeouts::default();
        if let Some(ms) = settings.get("GATEWAY_GOOGLE_ATTEMPT_TIMEOUT_MS") {
            timeouts.attempt = Duration::from_millis(ms.parse().expect("milliseconds"));
        }
        let http = HttpSettings {
            shutdown_drain: Duration::from_secs(drain),
            shutdown_timeout: Duration::from_secs(timeout),
            ..HttpSettings::default()
        };
        // The gateway refuses to start with settings that break this rule.
        if let Err(err) = check_shutdown_timing(&http, &timeouts) {
            panic!("{name}: {err}");
        }
    }
}

#[test]
fn the_scanners_read_durations_and_fall_back_to_the_server_defaults() {
    let settings: BTreeMap<String, String> = [
        ("GATEWAY_SHUTDOWN_DRAIN_SECS".to_owned(), "10".to_owned()),
        ("GATEWAY_SHUTDOWN_TIMEOUT_SECS".to_owned(), "30".to_owned()),
    ]
    .into();
    assert_eq!(shutdown_secs(&settings), (10, 30));
    assert_eq!(
        shutdown_secs(&BTreeMap::new()),
        (5, 25),
        "the server's defaults"
    );
    let hook = "lifecycle:\n  # preStop: a comment\n  preStop:\n    sleep:\n      seconds: 7\n";
    assert_eq!(pre_stop_sleep(hook), Some(7));
    assert_eq!(pre_stop_sleep("lifecycle: {}\n# preStop:\n"), None);
    assert!(mentions("a:\n  preStop:\n", "preStop"));
    assert!(!mentions("# preStop: only a comment\n", "preStop"));
    assert_eq!(
        yaml_number(
            "  terminationGracePeriodSeconds: 35\n",
            "terminationGracePeriodSeconds"
        ),
        Some(35)
    );
}

#[test]
fn the_key_is_a_read_only_file_where_the_settings_look_for_it() {
    let deployment = read("k8s/base/deployment.yaml");
    let key_path = deployment
        .split_once("- name: GOOGLE_APPLICATION_CREDENTIALS")
        .and_then(|(_, rest)| rest.lines().nth(1))
        .and_then(|line| line.trim().strip_prefix("value:"))
        .map(str::trim)
        .expect("the container names the key file");
    let (directory, file) = key_path.rsplit_once('/').expect("an absolute path");
    let mount = deployment
        .split_once(&format!("mountPath: {directory}"))
        .map(|(_, rest)| rest.lines().take(2).collect::<Vec<_>>().join("\n"))
        .expect("the key's directory is mounted");
    assert!(mount.contains("readOnly: true"), "{mount}");
    assert!(
        deployment.contains(&format!("path: {file}")),
        "the Secret's item is named {file}"
    );
    assert!(deployment.contains("secretName: invitation-gateway-google-key"));
    // Never an environment variable holding the key itself.
    assert!(
        !deployment.contains("secretKeyRef"),
        "no secret in the environment"
    );
}

#[test]
fn the_image_user_is_the_user_the_pod_runs_as() {
    let dockerfile = read("Dockerfile");
    let deployment = read("k8s/base/deployment.yaml");
    let user = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("the Dockerfile sets a USER");
    let (uid, gid) = user.trim().split_once(':').expect("USER uid:gid, numeric");
    assert_eq!(yaml_number(&deployment, "runAsUser"), uid.parse().ok());
    assert_eq!(yaml_number(&deployment, "runAsGroup"), gid.parse().ok());
    assert!(dockerfile.contains("STOPSIGNAL SIGTERM"));
}

#[test]
fn keyless_overlays_drop_the_key_and_may_reach_the_metadata_server() {
    let keyless: Vec<String> = overlays()
        .into_iter()
        .filter(|name| {
            let env = format!("k8s/overlays/{name}/gateway.env");
            Path::new(env!("CARGO_MANIFEST_DIR")).join(&env).is_file()
                && env_file(&env).contains_key("GATEWAY_SIGNER_SERVICE_ACCOUNT")
        })
        .collect();
    assert!(
        !keyless.is_empty(),
        "k8s/overlays/keyless shows keyless mode"
    );
    for name in keyless {
        let kustomization = read(&format!("k8s/overlays/{name}/kustomization.yaml"));
        let lines: Vec<&str> = yaml_lines(&kustomization).collect();
        let deleted = |item: &str| {
            lines
                .windows(2)
                .any(|pair| pair[0] == item && pair[1] == "$patch: delete")
        };
        assert!(
            deleted("- name: GOOGLE_APPLICATION_CREDENTIALS"),
            "{name}: no key path"
        );
        assert!(
            deleted("- mountPath: /var/run/secrets/google"),
            "{name}: no key mount"
        );
        assert!(deleted("- name: google-key"), "{name}: no key volume");
        assert!(
            mentions(&kustomization, "iam.gke.io/gcp-service-account:"),
            "{name}: the ServiceAccount names its Google service account"
        );
        let policy = read(&format!("k8s/overlays/{name}/networkpolicy-metadata.yaml"));
        assert!(
            mentions(&kustomization, "- networkpolicy-metadata.yaml"),
            "{name}: the metadata server policy is a resource"
        );
        for (cidr, port) in [("169.254.169.254/32", 80), ("169.254.169.252/32", 988)] {
            let rule = policy
                .split_once(&format!("cidr: {cidr}"))
                .map(|(_, rest)| rest.lines().take(4).collect::<Vec<_>>().join("\n"))
                .unwrap_or_else(|| panic!("{name}: egress to {cidr}"));
            assert!(
                rule.contains(&format!("port: {port}")),
                "{name}: {cidr}: {rule}"
            );
        }
    }
}
