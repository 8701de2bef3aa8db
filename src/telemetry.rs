//! Tracing: the subscriber, and log lines that Google Cloud Logging understands.
//!
//! On a terminal logs are readable text; elsewhere each event is one JSON object with
//! `severity`, `message` and `time` (the field names Cloud Logging's agent maps to its own), the
//! event's fields, and the fields of the spans it happened in (so every line of a request
//! carries its `request_id`). `RUST_LOG` filters; the default is `info`.
//!
//! Trace fields: a span's `trace_id`, `span_id` and `trace_sampled` (from a W3C `traceparent`)
//! become `logging.googleapis.com/trace` (`projects/PROJECT/traces/TRACE_ID`),
//! `logging.googleapis.com/spanId` and `logging.googleapis.com/trace_sampled` when the Google
//! Cloud project is known, so Cloud Logging links the line to its trace; without a project the
//! bare `trace_id` and `span_id` stay. Fields named `httpRequest.<name>` (tracing allows dots in
//! field names) become the members of one `httpRequest` object, Cloud Logging's request shape.

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::io::IsTerminal;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written (`--log-format`, `GATEWAY_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    Auto,
    /// JSON lines that Google Cloud Logging understands.
    Json,
    /// Human-readable text.
    Text,
}

/// The filter without `RUST_LOG`: info, except actix's HTTP/1 dispatcher, which logs every
/// malformed request a client sends (a bad header byte) at ERROR; the client gets its 400, and
/// an alert on ERROR lines should not fire for it.
pub const DEFAULT_FILTER: &str = "info,actix_http::h1::dispatcher=off";

/// Added to every filter: audit records are written whatever `RUST_LOG` says.
pub const AUDIT_DIRECTIVE: &str = "audit=info";

/// Installs the global subscriber writing to stdout; `gcp_project` names the Cloud Trace
/// project of the trace fields. Call once, at process start.
pub fn init(format: LogFormat, gcp_project: Option<String>) {
    let terminal = std::io::stdout().is_terminal();
    install(format, std::io::stdout, terminal, gcp_project, None);
}

/// [`init`], and with an OTLP endpoint also the export of spans to it (see `crate::traces`);
/// the returned export must be shut down at exit. Call inside the tokio runtime.
pub fn init_traced(
    format: LogFormat,
    gcp_project: Option<String>,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Option<crate::traces::TraceExport>> {
    let Some(endpoint) = otlp_endpoint else {
        init(format, gcp_project);
        return Ok(None);
    };
    let (export, tracer) = crate::traces::TraceExport::start(endpoint)?;
    let terminal = std::io::stdout().is_terminal();
    install(format, std::io::stdout, terminal, gcp_project, Some(tracer));
    Ok(Some(export))
}

/// Installs the global subscriber writing to stderr (the emulator's stdout carries only the
/// line scripts read); `auto` follows whether stderr is a terminal.
pub fn init_stderr(format: LogFormat) {
    let terminal = std::io::stderr().is_terminal();
    install(format, std::io::stderr, terminal, None, None);
}

/// Installs the global subscriber with a given writer, which `auto` takes for no terminal;
/// returns false if one was already set (tests initialise tracing once per process).
pub fn init_with_writer<W>(format: LogFormat, writer: W) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    install(format, writer, false, None, None)
}

/// Installs the global subscriber; `terminal` says whether `writer` writes to one (text for
/// `auto`); with a `tracer`, spans are also exported. Returns false if one was already set.
fn install<W>(
    format: LogFormat,
    writer: W,
    terminal: bool,
    gcp_project: Option<String>,
    tracer: Option<opentelemetry_sdk::trace::SdkTracer>,
) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = with_audit(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)),
    );
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !terminal,
    };
    let lines = tracing_subscriber::fmt::layer().with_writer(writer);
    let lines = if json {
        lines
            .fmt_fields(JsonFields::new())
            .event_format(CloudLoggingFormat::new(gcp_project))
            .boxed()
    } else {
        lines.with_target(true).boxed()
    };
    let spans = tracer.map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer));
    tracing_subscriber::registry()
        .with(lines)
        .with(spans)
        .with(filter)
        .try_init()
        .is_ok()
}

/// `filter` with the `audit` target let through at info: it is a sink, not a log, and no
/// `RUST_LOG` may silence it.
pub fn with_audit(filter: EnvFilter) -> EnvFilter {
    filter.add_directive(
        AUDIT_DIRECTIVE
            .parse()
            .expect("AUDIT_DIRECTIVE is a valid directive"),
    )
}

/// Cloud Logging's name for a tracing level.
fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

/// One JSON object per event, in the shape Cloud Logging's structured logging expects.
///
/// A line is written in one pass, without an intermediate map: `time`, `severity`, `target`,
/// the span fields (outermost first), the event's fields, `message`. A later field of the same
/// name replaces an earlier one, so an event's field wins over a span's. Fields named
/// `httpRequest.<name>` become the members of one `httpRequest` object.
#[derive(Debug, Clone, Default)]
pub struct CloudLoggingFormat {
    gcp_project: Option<String>,
}

impl CloudLoggingFormat {
    /// A format whose trace fields point into `gcp_project`'s Cloud Trace, when given.
    pub fn new(gcp_project: Option<String>) -> Self {
        Self { gcp_project }
    }

    /// Renames the trace fields to Cloud Logging's when the project is known.
    fn cloud_fields(&self, line: &mut LineFields) {
        let Some(project) = &self.gcp_project else {
            return;
        };
        if let Some(Value::String(trace_id)) = line.remove("trace_id") {
            line.set(
                "logging.googleapis.com/trace".into(),
                format!("projects/{project}/traces/{trace_id}").into(),
            );
            if let Some(span_id) = line.remove("span_id") {
                line.set("logging.googleapis.com/spanId".into(), span_id);
            }
            if let Some(sampled) = line.remove("trace_sampled") {
                line.set("logging.googleapis.com/trace_sampled".into(), sampled);
            }
        }
    }
}

impl<S, N> FormatEvent<S, N> for CloudLoggingFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = LineFields::default();
        // Span fields first (outermost to innermost), so the event's own fields win.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && let Ok(map) = serde_json::from_str::<Map<String, Value>>(fields)
                {
                    for (name, value) in map {
                        line.set(Cow::Owned(name), value);
                    }
                }
            }
        }
        event.record(&mut line);
        self.cloud_fields(&mut line);

        let metadata = event.metadata();
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut out = String::with_capacity(256);
        out.push_str("{\"time\":");
        push_json(&mut out, &time)?;
        out.push_str(",\"severity\":");
        push_json(&mut out, severity(metadata.level()))?;
        out.push_str(",\"target\":");
        push_json(&mut out, metadata.target())?;
        for (name, value) in &line.fields {
            out.push(',');
            push_json(&mut out, name)?;
            out.push(':');
            push_json(&mut out, value)?;
        }
        if !line.http_request.is_empty() {
            out.push_str(",\"httpRequest\":");
            push_json(&mut out, &line.http_request)?;
        }
        if !line.fields.iter().any(|(name, _)| name == "message") {
            out.push_str(",\"message\":\"\"");
        }
        out.push('}');
        writeln!(writer, "{out}")
    }
}

/// Appends `value` as JSON.
fn push_json(out: &mut String, value: &(impl serde::Serialize + ?Sized)) -> fmt::Result {
    let json = serde_json::to_string(value).map_err(|_| fmt::Error)?;
    out.push_str(&json);
    Ok(())
}

/// The fields of one line, in order, each name once; and the `httpRequest` members.
#[derive(Default)]
struct LineFields {
    fields: Vec<(Cow<'static, str>, Value)>,
    http_request: Map<String, Value>,
}

/// The prefix of the fields that make up the `httpRequest` object.
const HTTP_REQUEST_PREFIX: &str = "httpRequest.";

impl LineFields {
    /// Sets `name`, replacing an earlier value in place.
    fn set(&mut self, name: Cow<'static, str>, value: Value) {
        match self.fields.iter_mut().find(|(known, _)| *known == name) {
            Some((_, slot)) => *slot = value,
            None => self.fields.push((name, value)),
        }
    }

    fn remove(&mut self, name: &str) -> Option<Value> {
        let index = self.fields.iter().position(|(known, _)| known == name)?;
        Some(self.fields.remove(index).1)
    }

    fn record(&mut self, field: &tracing::field::Field, value: Value) {
        let name = field.name();
        match name.strip_prefix(HTTP_REQUEST_PREFIX) {
            Some(member) => {
                self.http_request.insert(member.to_owned(), value);
            }
            None => self.set(Cow::Borrowed(name), value),
        }
    }
}

impl tracing::field::Visit for LineFields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.record(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.record(field, Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.record(field, value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.record(field, value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.record(field, value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.record(field, value.into());
    }
}

/// Captures JSON log lines in memory (unit tests of anything that logs).
#[cfg(test)]
pub(crate) mod capture {
    use super::CloudLoggingFormat;
    use serde_json::Value;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::format::JsonFields;
    use tracing_subscriber::layer::SubscriberExt;

    /// The lines written so far.
    #[derive(Clone, Default)]
    pub(crate) struct LogBuffer(Arc<Mutex<Vec<u8>>>);

    impl LogBuffer {
        /// Everything written, as text.
        pub(crate) fn text(&self) -> String {
            let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
            String::from_utf8_lossy(&bytes).into_owned()
        }

        /// Every line, parsed as JSON.
        pub(crate) fn lines(&self) -> Vec<Value> {
            self.text()
                .lines()
                .map(|line| serde_json::from_str(line).expect("each line is JSON"))
                .collect()
        }
    }

    impl std::io::Write for LogBuffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A subscriber writing Cloud Logging JSON into a buffer; use with `set_default`.
    pub(crate) fn json_subscriber(
        gcp_project: Option<&str>,
    ) -> (impl tracing::Subscriber + Send + Sync, LogBuffer) {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFields::new())
                .event_format(CloudLoggingFormat::new(gcp_project.map(str::to_owned)))
                .with_writer(move || writer.clone()),
        );
        (subscriber, buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::capture::{LogBuffer, json_subscriber};
    use tracing_subscriber::layer::SubscriberExt;

    /// What `emit` logs as Cloud Logging JSON, with `gcp_project` as the project.
    fn logged(gcp_project: Option<&str>, emit: impl FnOnce()) -> LogBuffer {
        let (subscriber, buffer) = json_subscriber(gcp_project);
        tracing::subscriber::with_default(subscriber, emit);
        buffer
    }

    #[test]
    fn no_filter_silences_the_audit_target() {
        let (subscriber, buffer) = json_subscriber(None);
        let filtered = subscriber.with(super::with_audit(tracing_subscriber::EnvFilter::new(
            "warn,audit=off",
        )));
        tracing::subscriber::with_default(filtered, || {
            tracing::info!(target: "audit", outcome = "sent", "audit");
            tracing::info!("an application line the filter drops");
        });
        let lines = buffer.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["target"], "audit");
        assert_eq!(lines[0]["outcome"], "sent");
    }

    #[test]
    fn json_lines_carry_severity_message_and_span_fields() {
        let buffer = logged(None, || {
            let span = tracing::info_span!("request", request_id = "abc");
            let _entered = span.enter();
            tracing::warn!(status = 503, "upstream slow");
        });
        let lines = buffer.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["severity"], "WARNING");
        assert_eq!(line["message"], "upstream slow");
        assert_eq!(line["request_id"], "abc");
        assert_eq!(line["status"], 503);
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn trace_ids_become_cloud_trace_fields_when_the_project_is_known() {
        let buffer = logged(Some("my-project"), || {
            let span = tracing::info_span!(
                "request",
                trace_id = "abc123",
                span_id = "def456",
                trace_sampled = true
            );
            let _entered = span.enter();
            tracing::info!(
                httpRequest.status = 200,
                httpRequest.requestUrl = "/x",
                "request answered"
            );
        });
        let line = &buffer.lines()[0];
        assert_eq!(
            line["logging.googleapis.com/trace"],
            "projects/my-project/traces/abc123"
        );
        assert_eq!(line["logging.googleapis.com/spanId"], "def456");
        assert_eq!(line["logging.googleapis.com/trace_sampled"], true);
        assert!(line.get("trace_id").is_none(), "{line}");
        assert_eq!(line["httpRequest"]["status"], 200);
        assert_eq!(line["httpRequest"]["requestUrl"], "/x");
        assert!(line.get("httpRequest.status").is_none(), "{line}");
    }

    #[test]
    fn an_event_field_replaces_a_span_field_of_the_same_name() {
        let buffer = logged(None, || {
            let span = tracing::info_span!("request", status = "pending", request_id = "abc");
            let _entered = span.enter();
            tracing::info!(status = 200, "done");
        });
        let text = buffer.text();
        assert_eq!(text.matches("\"status\"").count(), 1, "{text}");
        let line = &buffer.lines()[0];
        assert_eq!(line["status"], 200);
        assert_eq!(line["request_id"], "abc");
        assert_eq!(line["message"], "done");
    }

    #[test]
    fn without_a_project_the_bare_trace_id_stays() {
        let buffer = logged(None, || {
            let span = tracing::info_span!("request", trace_id = "abc123", span_id = "def456");
            let _entered = span.enter();
            tracing::info!("hello");
        });
        let line = &buffer.lines()[0];
        assert_eq!(line["trace_id"], "abc123");
        assert_eq!(line["span_id"], "def456");
        assert!(line.get("logging.googleapis.com/trace").is_none(), "{line}");
    }
}
