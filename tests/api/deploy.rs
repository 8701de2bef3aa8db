//! The deployment files agree with the server: Kubernetes waits long enough for the shutdown
//! sequence (preStop + drain + shutdown timeout + margin), the key file is where the settings
//! say, and the image's user is the one the pod runs as.
//!
//! Plain line scanning of the few fields involved: the files are ours and simple, and CI
//! validates them in full against the Kubernetes schemas (`.ci/run`).

use invitation_gateway::config::HttpSettings;
use std::collections::BTreeMap;
use std::path::Path;

/// Time left for the process to exit after the server's own bound (thread joins, the kubelet's
/// own latency).
const MARGIN_SECS: u64 = 5;

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

/// `lifecycle.preStop.sleep.seconds`, 0 without such a hook.
fn pre_stop_sleep(deployment: &str) -> u64 {
    match deployment.split_once("preStop:") {
        Some((_, hook)) => match hook.split_once("sleep:") {
            Some((_, sleep)) => yaml_number(sleep, "seconds").expect("preStop.sleep.seconds"),
            None => panic!("a preStop hook other than sleep: teach this test its duration"),
        },
        None => 0,
    }
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

#[test]
fn the_grace_period_covers_pre_stop_drain_shutdown_timeout_and_a_margin() {
    let deployment = read("k8s/base/deployment.yaml");
    let base = env_file("k8s/base/gateway.env");
    let mut overlay = base.clone();
    overlay.extend(env_file("k8s/overlays/example/gateway.env"));
    let overlay_kustomization = read("k8s/overlays/example/kustomization.yaml");
    let base_grace = yaml_number(&deployment, "terminationGracePeriodSeconds")
        .expect("the Deployment sets terminationGracePeriodSeconds");
    let overlay_grace =
        yaml_number(&overlay_kustomization, "terminationGracePeriodSeconds").unwrap_or(base_grace);
    let pre_stop = pre_stop_sleep(&deployment);

    for (name, grace, settings) in [
        ("base", base_grace, &base),
        ("example", overlay_grace, &overlay),
    ] {
        let (drain, timeout) = shutdown_secs(settings);
        let needed = pre_stop + drain + timeout + MARGIN_SECS;
        assert!(
            grace >= needed,
            "{name}: terminationGracePeriodSeconds {grace} < preStop {pre_stop} + drain {drain} + shutdown timeout {timeout} + margin {MARGIN_SECS}"
        );
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
        (5, 20),
        "the server's defaults"
    );
    let hook = "lifecycle:\n  preStop:\n    sleep:\n      seconds: 7\n";
    assert_eq!(pre_stop_sleep(hook), 7);
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
