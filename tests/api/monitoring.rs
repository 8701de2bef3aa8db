//! The operator's pack in `k8s/monitoring/`: the Grafana dashboard and the alerting rules query
//! only metrics the gateway exports, with only the labels it records them with, and the
//! readiness gauges they rely on are scraped.

use std::collections::{BTreeMap, BTreeSet};

use crate::helpers::spawn_app;

/// Every metric family declared in `src/metrics.rs` (its `pub const NAME: &str = "gateway_..."`).
fn declared_families() -> BTreeSet<String> {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/metrics.rs"))
        .expect("src/metrics.rs");
    source
        .lines()
        .filter(|line| line.trim_start().starts_with("pub const") && line.contains("&str"))
        .filter_map(|line| line.split('"').nth(1))
        .filter(|name| name.starts_with("gateway_"))
        .map(str::to_owned)
        .collect()
}

/// The `gateway_*` metric names in a text (PromQL expressions, JSON, YAML).
fn queried_metrics(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("gateway_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// A queried series name's family: histograms are queried through `_bucket`, `_sum`, `_count`.
fn family<'a>(name: &'a str, declared: &BTreeSet<String>) -> Option<&'a str> {
    std::iter::once(name)
        .chain(
            ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|suffix| name.strip_suffix(suffix)),
        )
        .find(|candidate| declared.contains(*candidate))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect(path)
}

fn assert_only_exported(path: &str, queried: &BTreeSet<String>) {
    let declared = declared_families();
    assert!(!queried.is_empty(), "{path} queries nothing");
    let unknown: Vec<&String> = queried
        .iter()
        .filter(|name| family(name, &declared).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "{path} queries metrics the gateway does not export: {unknown:?}"
    );
}

/// The dashboard's queries, each with the labels its legend shows (`{{label}}`).
fn dashboard_queries() -> Vec<(String, String)> {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read(DASHBOARD)).expect("dashboard JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            queries.push((
                target["expr"].as_str().expect("expr").to_owned(),
                target["legendFormat"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ));
        }
    }
    queries
}

/// Each alert's expression, with its annotations (which show labels as `$labels.name`).
fn alert_queries() -> Vec<(String, String)> {
    let mut queries: Vec<(String, String)> = Vec::new();
    for line in read(ALERTS).lines() {
        let line = line.trim_start();
        if let Some(expr) = line.strip_prefix("expr:") {
            queries.push((expr.trim().to_owned(), String::new()));
        } else if let Some((_, shown)) = queries.last_mut() {
            shown.push_str(line);
            shown.push('\n');
        }
    }
    queries
}

const DASHBOARD: &str = "k8s/monitoring/grafana-dashboard.json";
const ALERTS: &str = "k8s/monitoring/alerts.rules.yaml";

#[test]
fn every_metric_the_dashboard_queries_is_exported() {
    let queried = dashboard_queries()
        .iter()
        .flat_map(|(expr, _)| queried_metrics(expr))
        .collect();
    assert_only_exported(DASHBOARD, &queried);
}

#[test]
fn every_metric_the_alerts_query_is_exported() {
    let queried = alert_queries()
        .iter()
        .flat_map(|(expr, _)| queried_metrics(expr))
        .collect();
    assert_only_exported(ALERTS, &queried);
}

#[test]
fn every_label_the_dashboard_uses_is_one_the_gateway_records() {
    let emitted = emitted_labels();
    let wrong: Vec<String> = dashboard_queries()
        .iter()
        .flat_map(|(expr, legend)| unknown_labels(expr, legend, &emitted))
        .collect();
    assert!(wrong.is_empty(), "{DASHBOARD}: {wrong:#?}");
}

#[test]
fn every_label_the_alerts_use_is_one_the_gateway_records() {
    let emitted = emitted_labels();
    let wrong: Vec<String> = alert_queries()
        .iter()
        .flat_map(|(expr, annotations)| unknown_labels(expr, annotations, &emitted))
        .collect();
    assert!(wrong.is_empty(), "{ALERTS}: {wrong:#?}");
}

#[test]
fn a_label_that_is_not_recorded_is_caught() {
    let emitted = emitted_labels();
    // The labels the code records, read from its recording calls.
    assert_eq!(
        emitted["gateway_google_budget_refusals_total"],
        BTreeSet::from(["kind".to_owned(), "reason".to_owned()])
    );
    assert!(emitted["gateway_http_requests_total"].contains("route"));
    assert!(emitted["gateway_http_request_duration_seconds"].contains("le"));
    for (expr, shown) in [
        (
            r#"sum(rate(gateway_google_attempts_total{kind="x"}[5m]))"#,
            "",
        ),
        ("sum by (reason) (gateway_ready)", ""),
        ("sum by (endpoint) (gateway_webhook_backlog)", "{{route}}"),
        ("max(gateway_ready)", "replica {{ $labels.check }}"),
    ] {
        assert!(
            !unknown_labels(expr, shown, &emitted).is_empty(),
            "not caught: {expr} {shown}"
        );
    }
    assert!(
        unknown_labels(
            "sum by (kind) (gateway_google_budget_waits_total)",
            "{{kind}}",
            &emitted
        )
        .is_empty()
    );
}

/// Labels Prometheus adds to every series it scrapes.
const TARGET_LABELS: &[&str] = &["instance", "job", "namespace", "pod"];

/// For each metric family, the label names `src/metrics.rs` records it with: the keys of its
/// `counter!`/`gauge!`/`histogram!` calls (`"key" => value`, or the `Label::new("key", ...)` of
/// the function that builds them), plus `le` for histograms.
fn emitted_labels() -> BTreeMap<String, BTreeSet<String>> {
    let source = read("src/metrics.rs");
    let constants: BTreeMap<&str, &str> = source
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("pub const "))
        .filter_map(|rest| Some((rest.split(':').next()?, rest.split('"').nth(1)?)))
        .collect();
    let mut emitted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for kind in ["counter!(", "gauge!(", "histogram!("] {
        for (at, _) in source.match_indices(kind) {
            if source[..at].ends_with('_') {
                continue; // describe_counter!
            }
            let call = balanced(&source[at + kind.len()..]);
            let constant = call.split([',', ')']).next().unwrap_or_default().trim();
            let Some(family) = constants.get(constant) else {
                continue;
            };
            let mut keys: BTreeSet<String> = quoted_before(call, "\" =>");
            if !call.contains("=>") && call.contains(',') {
                let function = &source[source[..at].rfind("fn ").unwrap_or(0)..at];
                keys.extend(quoted_after(function, "Label::new(\""));
                keys.extend(quoted_after(function, "Label::from_static_parts(\""));
            }
            if kind == "histogram!(" {
                keys.insert("le".into());
            }
            emitted
                .entry((*family).to_owned())
                .or_default()
                .extend(keys);
        }
    }
    emitted
}

/// The text up to the `)` that closes the call just opened.
fn balanced(text: &str) -> &str {
    let mut depth = 1;
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..index];
                }
            }
            _ => {}
        }
    }
    text
}

/// `key` of every `"key<marker>` in text (marker starting with the closing quote).
fn quoted_before(text: &str, marker: &str) -> BTreeSet<String> {
    text.match_indices(marker)
        .filter_map(|(at, _)| text[..at].rsplit('"').next())
        .map(str::to_owned)
        .collect()
}

/// `key` of every `<marker>key"` in text.
fn quoted_after(text: &str, marker: &str) -> BTreeSet<String> {
    text.match_indices(marker)
        .filter_map(|(at, _)| text[at + marker.len()..].split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The labels a query names that its metrics are not recorded with: in a selector
/// (`metric{label="..."}`), a grouping (`by`, `without`, `on`, `ignoring`) or what it shows
/// (`{{label}}`, `$labels.label`).
fn unknown_labels(
    expr: &str,
    shown: &str,
    emitted: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let declared = declared_families();
    let labels_of = |name: &str| -> BTreeSet<String> {
        let mut labels: BTreeSet<String> = family(name, &declared)
            .and_then(|family| emitted.get(family))
            .cloned()
            .unwrap_or_default();
        labels.extend(TARGET_LABELS.iter().map(|label| label.to_string()));
        labels
    };
    let mut wrong = Vec::new();
    let mut any: BTreeSet<String> = BTreeSet::new();
    let mut rest = expr;
    while let Some(start) = rest.find("gateway_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let labels = labels_of(name);
        if let Some(selector) = tail[end..].strip_prefix('{') {
            let selector = selector.split('}').next().unwrap_or_default();
            for matcher in selector.split(',') {
                let label = matcher.split(['=', '!']).next().unwrap_or_default().trim();
                if !label.is_empty() && !labels.contains(label) {
                    wrong.push(format!("{name}{{{label}}} in {expr}"));
                }
            }
        }
        any.extend(labels);
        rest = &tail[end..];
    }
    let mut named: Vec<&str> = Vec::new();
    for keyword in ["by", "without", "on", "ignoring"] {
        for (at, _) in expr.match_indices(keyword) {
            let before = expr[..at].chars().last();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let after = expr[at + keyword.len()..].trim_start();
            if let Some(group) = after.strip_prefix('(') {
                named.extend(group.split(')').next().unwrap_or_default().split(','));
            }
        }
    }
    // Grafana's `{{label}}`, Prometheus templates' `{{ $labels.label }}`.
    for (at, _) in shown.match_indices("{{") {
        let inside = shown[at + 2..]
            .split("}}")
            .next()
            .unwrap_or_default()
            .trim();
        named.push(inside.trim_start_matches("$labels."));
    }
    for label in named
        .into_iter()
        .map(str::trim)
        .filter(|label| !label.is_empty())
    {
        if !any.contains(label) {
            wrong.push(format!("{label} in {expr} {}", shown.trim()));
        }
    }
    wrong
}

#[test]
fn a_name_that_is_not_exported_is_caught() {
    let queried = queried_metrics(r#"sum(rate(gateway_no_such_total[5m])) + gateway_ready"#);
    let declared = declared_families();
    assert!(family("gateway_no_such_total", &declared).is_none());
    assert!(family("gateway_http_request_duration_seconds_bucket", &declared).is_some());
    assert_eq!(queried.len(), 2);
}

#[tokio::test]
async fn readiness_is_scraped_as_gauges_for_the_alerts() {
    let app = spawn_app().await;

    let text = app.get("/metrics").await.text().await.unwrap();

    assert!(
        text.lines().any(|line| line.starts_with("gateway_ready ")),
        "{text}"
    );
    for check in ["credentials", "caller_keys", "store"] {
        let states: Vec<&str> = text
            .lines()
            .filter(|line| {
                line.starts_with("gateway_readiness_check{")
                    && line.contains(&format!("check=\"{check}\""))
            })
            .collect();
        assert_eq!(states.len(), 3, "{check}: {states:?}");
        let current: Vec<&&str> = states.iter().filter(|line| line.ends_with(" 1")).collect();
        assert_eq!(current.len(), 1, "{check}: {states:?}");
    }
}

#[test]
fn every_alert_links_its_runbook_section_by_runbook_url() {
    let runbooks = read("docs/alerts.md");
    let mut alerts = 0;
    let mut wrong = Vec::new();
    for block in read(ALERTS).split("- alert: ").skip(1) {
        alerts += 1;
        let name = block.lines().next().unwrap_or_default().trim();
        let url = block
            .lines()
            .find_map(|line| line.trim_start().strip_prefix("runbook_url: "))
            .unwrap_or_default()
            .trim();
        // GitHub's anchor of the heading `## Name`.
        let expected = format!("docs/alerts.md#{}", name.to_lowercase());
        if url != expected || !runbooks.lines().any(|line| line == format!("## {name}")) {
            wrong.push(format!(
                "{name}: runbook_url {url:?}, expected {expected} and its section"
            ));
        }
    }
    assert_eq!(alerts, 10);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn every_declared_metric_has_a_row_in_the_operating_guides_metrics_table() {
    let table = read("docs/operating.md");
    let missing: Vec<String> = declared_families()
        .into_iter()
        .filter(|name| !table.contains(&format!("| `{name}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics declared in src/metrics.rs without a row in docs/operating.md: {missing:?}"
    );
}
