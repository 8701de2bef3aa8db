//! The deployment files agree with the server: Kubernetes waits long enough for the shutdown
//! sequence (preStop + drain + shutdown timeout + margin), the key file is where the settings
//! say, the image's user is the one the pod runs as, the database URL comes from a Secret
//! (never a literal), the schema is migrated by the gateway's own image first, and every
//! overlay's pods may reach their PostgreSQL (directly, or through the Cloud SQL Auth Proxy),
//! and the image's build context holds every file the binary embeds (the console's).
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
    // Never an environment variable holding the key itself: the one Secret in the environment
    // is the database URL.
    let lines: Vec<&str> = yaml_lines(&deployment).collect();
    let from_env: Vec<&str> = lines
        .windows(3)
        .filter(|ref_lines| ref_lines[0] == "secretKeyRef:")
        .filter_map(|ref_lines| ref_lines[1..].iter().find(|l| l.starts_with("name:")))
        .copied()
        .collect();
    assert!(!from_env.is_empty(), "the database URL is a secretKeyRef");
    for name in from_env {
        assert_eq!(
            name,
            format!("name: {DATABASE_SECRET}"),
            "no other secret in the environment"
        );
    }
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

/// The Secret holding the PostgreSQL URL, and its key.
const DATABASE_SECRET: &str = "invitation-gateway-database";
const DATABASE_SECRET_KEY: &str = "url";

/// The image name the base gives the gateway's containers (kustomize `images:` renames it).
const GATEWAY_IMAGE: &str = "invitation-gateway";

/// The Cloud SQL Auth Proxy's image, without its tag.
const PROXY_IMAGE: &str = "gcr.io/cloud-sql-connectors/cloud-sql-proxy";

/// Spaces before a line's first other character.
fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The items of every block list under `key:` in `text` (a file or a patch within one), each
/// as its lines without comments, the first one starting with `- `.
fn list_items<'a>(text: &'a str, key: &str) -> Vec<Vec<&'a str>> {
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .collect();
    let mut items = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        // The key on its own line, or as the first field of a list item (`- ports:`).
        let key_indent = if line.trim() == format!("{key}:") {
            indent(line)
        } else if line.trim() == format!("- {key}:") {
            indent(line) + 2
        } else {
            continue;
        };
        // A block list sits deeper than its key, or at its depth with each item marked `- `.
        let block: Vec<&str> = lines[at + 1..]
            .iter()
            .take_while(|l| {
                indent(l) > key_indent || (indent(l) == key_indent && l.trim().starts_with("- "))
            })
            .copied()
            .collect();
        let Some(item_indent) = block.first().map(|l| indent(l)) else {
            continue;
        };
        for l in block {
            if indent(l) == item_indent && l.trim().starts_with("- ") {
                items.push(vec![l]);
            } else if let Some(item) = items.last_mut() {
                item.push(l);
            }
        }
    }
    items
}

/// The value of an item's own `field:` (not a nested one's), `""` for a block below it.
fn field<'a>(item: &[&'a str], name: &str) -> Option<&'a str> {
    let depth = indent(item[0]) + 2;
    item.iter().enumerate().find_map(|(at, line)| {
        let text = if at == 0 {
            line.trim().strip_prefix("- ")?
        } else if indent(line) == depth {
            line.trim()
        } else {
            return None;
        };
        Some(text.strip_prefix(name)?.strip_prefix(':')?.trim())
    })
}

/// The lines nested under an item's own `field:`, without the field's line.
fn field_block<'a>(item: &[&'a str], name: &str) -> Vec<&'a str> {
    let depth = indent(item[0]) + 2;
    let Some(start) = item
        .iter()
        .position(|line| indent(line) == depth && line.trim() == format!("{name}:"))
    else {
        return Vec::new();
    };
    item[start + 1..]
        .iter()
        .take_while(|line| indent(line) > depth)
        .map(|line| line.trim())
        .collect()
}

/// A container's `args`, written inline (`["serve"]`) or as a block list.
fn args(item: &[&str]) -> Vec<String> {
    let unquote = |arg: &str| arg.trim().trim_matches('"').to_owned();
    match field(item, "args") {
        Some("") => field_block(item, "args")
            .into_iter()
            .filter_map(|line| line.strip_prefix("- "))
            .map(unquote)
            .collect(),
        Some(inline) => inline
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(unquote)
            .collect(),
        None => Vec::new(),
    }
}

/// The containers and init containers of a text: (`initContainers`?, item).
fn containers(text: &str) -> Vec<(bool, Vec<&str>)> {
    let init = list_items(text, "initContainers").into_iter();
    let main = list_items(text, "containers").into_iter();
    init.map(|item| (true, item))
        .chain(main.map(|item| (false, item)))
        .collect()
}

/// The lines of every `- name: VAR` environment entry in `text`, the name's line first.
fn env_entries<'a>(text: &'a str, var: &str) -> Vec<Vec<&'a str>> {
    let lines: Vec<&str> = yaml_lines_raw(text).collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.trim() == format!("- name: {var}"))
        .map(|(at, line)| {
            let mut entry = vec![line.trim()];
            entry.extend(
                lines[at + 1..]
                    .iter()
                    .take_while(|l| indent(l) > indent(line) && !l.trim().starts_with("- "))
                    .map(|l| l.trim()),
            );
            entry
        })
        .collect()
}

/// The lines of a YAML text that are not comments, indentation kept.
fn yaml_lines_raw(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
}

/// Whether an environment entry takes its value from the database Secret's key.
fn from_database_secret(entry: &[&str]) -> bool {
    entry.contains(&"valueFrom:")
        && entry.contains(&"secretKeyRef:")
        && entry.contains(&format!("name: {DATABASE_SECRET}").as_str())
        && entry.contains(&format!("key: {DATABASE_SECRET_KEY}").as_str())
        && !entry.iter().any(|line| line.starts_with("value:"))
}

/// Every file under `k8s/`, by path relative to the crate, with its text.
fn k8s_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    walk(&root.join("k8s"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(root)
                .expect("under the crate")
                .to_string_lossy()
                .into_owned();
            let text = read(&relative);
            (relative, text)
        })
        .collect()
}

/// Whether a text holds a PostgreSQL URL (a password's usual place), comments included.
fn holds_postgres_url(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("postgres://") || text.contains("postgresql://")
}

/// The files an overlay lists under `resources:` that are its own (not `../`).
fn own_resources(name: &str, kustomization: &str) -> Vec<String> {
    list_items(kustomization, "resources")
        .into_iter()
        .filter_map(|item| item[0].trim().strip_prefix("- ").map(str::to_owned))
        .filter(|file| !file.starts_with(".."))
        .map(|file| format!("k8s/overlays/{name}/{file}"))
        .collect()
}

/// The lines nested under the first `key:` of `text` (at any depth), without the key's line.
fn block_under<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = yaml_lines_raw(text).collect();
    let Some(start) = lines
        .iter()
        .position(|line| line.trim() == format!("{key}:"))
    else {
        return Vec::new();
    };
    lines[start + 1..]
        .iter()
        .take_while(|line| indent(line) > indent(lines[start]))
        .map(|line| line.trim())
        .collect()
}

/// The egress rules of every NetworkPolicy in `text` that selects the gateway's pods:
/// (CIDR, `None` for anywhere; TCP ports).
fn egress_rules(text: &str) -> Vec<(Option<String>, Vec<u16>)> {
    let mut rules = Vec::new();
    for doc in text.split("\n---") {
        let selects_gateway =
            block_under(doc, "podSelector").contains(&"app.kubernetes.io/name: invitation-gateway");
        if !mentions(doc, "kind: NetworkPolicy") || !selects_gateway {
            continue;
        }
        for rule in list_items(doc, "egress") {
            let rule = rule.join("\n");
            let cidr = list_items(&rule, "to")
                .iter()
                .flatten()
                .find_map(|line| line.trim().strip_prefix("cidr:"))
                .map(|cidr| cidr.trim().to_owned());
            let ports = list_items(&rule, "ports")
                .iter()
                .filter(|port| field(port, "protocol") == Some("TCP"))
                .filter_map(|port| field(port, "port")?.parse().ok())
                .collect();
            rules.push((cidr, ports));
        }
    }
    rules
}

#[test]
fn every_container_running_the_gateway_binary_reads_the_database_url_from_the_secret() {
    let deployment = read("k8s/base/deployment.yaml");
    let own: Vec<(bool, Vec<&str>)> = containers(&deployment)
        .into_iter()
        .filter(|(_, item)| field(item, "image") == Some(GATEWAY_IMAGE))
        .collect();
    let names: Vec<&str> = own
        .iter()
        .filter_map(|(_, item)| field(item, "name"))
        .collect();
    assert!(
        names.contains(&"gateway") && names.contains(&"migrate"),
        "the server and the migrate step run the gateway's image: {names:?}"
    );
    for (_, item) in &own {
        let name = field(item, "name").unwrap_or_default();
        let text = item.join("\n");
        let entries = env_entries(&text, "GATEWAY_DATABASE_URL");
        assert_eq!(entries.len(), 1, "{name}: one GATEWAY_DATABASE_URL entry");
        assert!(
            from_database_secret(&entries[0]),
            "{name}: GATEWAY_DATABASE_URL from secretKeyRef {DATABASE_SECRET}/{DATABASE_SECRET_KEY}: {:?}",
            entries[0]
        );
    }
}

#[test]
fn no_manifest_holds_a_database_url() {
    let files = k8s_files();
    assert!(files.len() > 10, "{} files under k8s/", files.len());
    for (path, text) in &files {
        // Not even in a comment: an example URL gets copied, password and all.
        assert!(
            !holds_postgres_url(text),
            "{path}: a PostgreSQL URL belongs in the Secret {DATABASE_SECRET}"
        );
        if path.ends_with(".env") {
            assert!(
                !env_file(path).contains_key("GATEWAY_DATABASE_URL"),
                "{path}: the database URL is a Secret, not a setting in a ConfigMap"
            );
        }
        // An overlay's patch may mention the variable only to take it from the Secret too.
        for entry in env_entries(text, "GATEWAY_DATABASE_URL") {
            assert!(from_database_secret(&entry), "{path}: {entry:?}");
        }
    }
}

#[test]
fn the_migrate_step_runs_migrate_in_the_gateway_image_with_its_settings_and_security() {
    let deployment = read("k8s/base/deployment.yaml");
    let all = containers(&deployment);
    let gateway = all
        .iter()
        .find(|(init, item)| !init && args(item) == ["serve"])
        .map(|(_, item)| item)
        .expect("a container runs `serve`");
    let migrate = all
        .iter()
        .find(|(_, item)| args(item) == ["migrate"])
        .map(|(init, item)| {
            assert!(
                init,
                "migrate finishes before the gateway starts: an init container"
            );
            item
        })
        .expect("an init container runs `migrate`");
    assert_eq!(field(migrate, "image"), field(gateway, "image"));
    assert!(
        field(migrate, "image").is_some(),
        "both name the image (kustomize `images:` renames both)"
    );
    assert_eq!(
        field_block(migrate, "securityContext"),
        field_block(gateway, "securityContext"),
        "the same security context"
    );
    assert_eq!(
        field_block(migrate, "envFrom"),
        field_block(gateway, "envFrom"),
        "the same settings (the store's timeouts and pool)"
    );
    // No overlay gives one of them another image than the other.
    for name in overlays() {
        let kustomization = read(&format!("k8s/overlays/{name}/kustomization.yaml"));
        for (_, item) in containers(&kustomization) {
            let container = field(&item, "name").unwrap_or_default();
            if ["gateway", "migrate"].contains(&container) {
                assert!(
                    field(&item, "image").is_none(),
                    "{name}: {container}'s image is set by `images:`, for both at once"
                );
            }
        }
    }
}

#[test]
fn every_overlay_lets_its_pods_reach_postgresql_directly_or_through_the_proxy() {
    let base_rules = egress_rules(&read("k8s/base/networkpolicy.yaml"));
    assert!(
        !base_rules
            .iter()
            .any(|(_, ports)| ports.contains(&5432) || ports.contains(&3307)),
        "the database's address is the environment's: overlays allow it"
    );
    let mut proxied = 0;
    for name in overlays() {
        let kustomization = read(&format!("k8s/overlays/{name}/kustomization.yaml"));
        let mut rules = base_rules.clone();
        for file in own_resources(&name, &kustomization) {
            rules.extend(egress_rules(&read(&file)));
        }
        let to_address = |port: u16| {
            rules
                .iter()
                .any(|(cidr, ports)| cidr.is_some() && ports.contains(&port))
        };
        if mentions(&kustomization, &format!("{PROXY_IMAGE}:")) {
            proxied += 1;
            // The proxy is what leaves the pod: TLS to the instance, and its Admin API.
            assert!(to_address(3307), "{name}: egress to the instance on 3307");
            assert!(
                rules.iter().any(|(_, ports)| ports.contains(&443)),
                "{name}: egress to the Cloud SQL Admin API on 443"
            );
            assert!(
                !to_address(5432),
                "{name}: nothing but the proxy talks to the database"
            );
        } else {
            assert!(to_address(5432), "{name}: egress to PostgreSQL on 5432");
        }
    }
    assert!(proxied > 0, "an overlay shows the Cloud SQL Auth Proxy");
}

#[test]
fn the_cloud_sql_proxy_is_a_pinned_restricted_native_sidecar_started_before_migrate() {
    let mut seen = 0;
    for name in overlays() {
        let kustomization = read(&format!("k8s/overlays/{name}/kustomization.yaml"));
        let init = list_items(&kustomization, "initContainers");
        let Some(at) = init.iter().position(|item| {
            field(item, "image").is_some_and(|image| image.starts_with(PROXY_IMAGE))
        }) else {
            assert!(
                !mentions(&kustomization, PROXY_IMAGE),
                "{name}: the proxy is an init container"
            );
            continue;
        };
        seen += 1;
        let proxy = &init[at];
        let image = field(proxy, "image").unwrap_or_default();
        let tag = image
            .rsplit_once(':')
            .map(|(_, tag)| tag)
            .unwrap_or_default();
        let numbers: Vec<&str> = tag.split('.').collect();
        assert!(
            numbers.len() == 3
                && numbers[0] == "2"
                && numbers.iter().all(|n| n.parse::<u32>().is_ok()),
            "{name}: a pinned 2.x.y tag, not {image}"
        );
        // Native sidecar: keeps running, later init containers and the gateway wait for its
        // startup probe, and it is stopped only after the gateway.
        assert_eq!(field(proxy, "restartPolicy"), Some("Always"), "{name}");
        assert!(
            !field_block(proxy, "startupProbe").is_empty(),
            "{name}: a startup probe"
        );
        let migrate = init
            .iter()
            .position(|item| field(item, "name") == Some("migrate"))
            .unwrap_or_else(|| panic!("{name}: the patch lists migrate after the proxy"));
        assert!(at < migrate, "{name}: the proxy starts before migrate");
        let flags = args(proxy);
        for flag in ["--private-ip", "--address=127.0.0.1", "--port=5432"] {
            assert!(
                flags.iter().any(|f| f == flag),
                "{name}: {flag} in {flags:?}"
            );
        }
        let security = field_block(proxy, "securityContext");
        for setting in [
            "runAsNonRoot: true",
            "allowPrivilegeEscalation: false",
            "readOnlyRootFilesystem: true",
            "drop: [\"ALL\"]",
            "type: RuntimeDefault",
        ] {
            assert!(
                security.contains(&setting),
                "{name}: {setting} in {security:?}"
            );
        }
        // Its Google identity is the pod's Workload Identity, never a key.
        assert!(
            mentions(&kustomization, "iam.gke.io/gcp-service-account:"),
            "{name}: Workload Identity for the proxy"
        );
        assert!(
            own_resources(&name, &kustomization)
                .iter()
                .any(|file| file.ends_with("networkpolicy-metadata.yaml")),
            "{name}: the proxy gets its token from the GKE metadata server"
        );
    }
    assert!(seen > 0, "an overlay runs the Cloud SQL Auth Proxy");
}

#[test]
fn the_manifest_scanners_read_lists_fields_and_policies() {
    let pod = "\
      initContainers:
        - name: proxy
          image: proxy:2.1.0
          args:
            - --port=5432
            # a comment
            - \"--private-ip\"
        - name: migrate
          args: [\"migrate\"]
          env:
            - name: GATEWAY_DATABASE_URL
              value: literal
      containers:
      - name: gateway
        args: [\"serve\", \"--x\"]
";
    let all = containers(pod);
    assert_eq!(all.len(), 3);
    assert_eq!(args(&all[0].1), ["--port=5432", "--private-ip"]);
    assert_eq!(args(&all[1].1), ["migrate"]);
    assert_eq!(args(&all[2].1), ["serve", "--x"]);
    assert!(all[1].0 && !all[2].0);
    assert_eq!(field(&all[0].1, "image"), Some("proxy:2.1.0"));
    assert_eq!(field(&all[2].1, "name"), Some("gateway"));
    let entries = env_entries(pod, "GATEWAY_DATABASE_URL");
    assert_eq!(entries.len(), 1);
    assert!(!from_database_secret(&entries[0]), "a literal value");
    let secret = [
        "- name: GATEWAY_DATABASE_URL",
        "valueFrom:",
        "secretKeyRef:",
        "name: invitation-gateway-database",
        "key: url",
    ];
    assert!(from_database_secret(&secret));
    assert!(holds_postgres_url("# e.g. PostgreSQL://u:p@h/db"));
    assert!(!holds_postgres_url("sqlite://invitation-gateway.db"));
    let policy = "\
kind: NetworkPolicy
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: invitation-gateway
  egress:
    - ports:
        - protocol: UDP
          port: 53
        - protocol: TCP
          port: 443
    - to:
        - ipBlock:
            cidr: 10.0.0.0/8
      ports:
        - protocol: TCP
          port: 5432
";
    assert_eq!(
        egress_rules(policy),
        [
            (None, vec![443]),
            (Some("10.0.0.0/8".to_owned()), vec![5432])
        ]
    );
    let other = policy.replace("name: invitation-gateway", "name: someone-else");
    assert!(egress_rules(&other).is_empty(), "a policy for other pods");
}

/// The files under `dir` (recursively), as paths relative to the crate.
fn files_under(dir: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pending = vec![root.join(dir)];
    let mut files = Vec::new();
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap_or_else(|e| panic!("{}: {e}", next.display()))
        {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                files.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    files
}

#[test]
fn the_docker_build_context_holds_every_file_the_binary_embeds() {
    // `.dockerignore` ignores everything, then lets through what the build reads
    // (`!src/**`); a file that `include_bytes!` reads from elsewhere would break the image.
    let allowed: Vec<String> = read(".dockerignore")
        .lines()
        .filter_map(|line| line.trim().strip_prefix('!'))
        .map(str::to_owned)
        .collect();
    // `concat!(env!("CARGO_MANIFEST_DIR"), "/dir/...", ...)`, however rustfmt wraps it.
    let marker = "env!(\"CARGO_MANIFEST_DIR\")";
    let mut embedded = Vec::new();
    for file in files_under("src").iter().filter(|f| f.ends_with(".rs")) {
        let code = read(file);
        for (at, _) in code.match_indices(marker) {
            let rest = code[at + marker.len()..].trim_start();
            let Some(rest) = rest.strip_prefix(',').map(str::trim_start) else {
                continue;
            };
            let Some(rest) = rest.strip_prefix("\"/") else {
                continue;
            };
            embedded.push(rest.chars().take_while(|c| *c != '"').collect::<String>());
        }
    }
    assert!(
        embedded
            .iter()
            .any(|path| path.starts_with("assets/console")),
        "the console's files are embedded: {embedded:?}"
    );
    for path in embedded {
        let top = path.split('/').next().unwrap_or_default();
        assert!(
            allowed
                .iter()
                .any(|allow| *allow == path || *allow == format!("{top}/**")),
            "{path} is embedded in the binary but .dockerignore keeps it out of the build \
             context (allowed: {allowed:?})"
        );
    }
}
