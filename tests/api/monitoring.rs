//! The operator's pack in `k8s/monitoring/`: the Grafana dashboard and the alerting rules query
//! only metrics the gateway exports, and the readiness gauges they rely on are scraped.

use std::collections::BTreeSet;

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

#[test]
fn every_metric_the_dashboard_queries_is_exported() {
    let path = "k8s/monitoring/grafana-dashboard.json";
    let dashboard: serde_json::Value = serde_json::from_str(&read(path)).expect("dashboard JSON");
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            queried.extend(queried_metrics(target["expr"].as_str().expect("expr")));
        }
    }
    assert_only_exported(path, &queried);
}

#[test]
fn every_metric_the_alerts_query_is_exported() {
    let path = "k8s/monitoring/alerts.rules.yaml";
    let exprs: String = read(path)
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("expr:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_only_exported(path, &queried_metrics(&exprs));
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
