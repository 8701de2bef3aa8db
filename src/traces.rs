//! Optional OTLP trace export: a span per request (a child of the caller's W3C `traceparent`)
//! and per Google call, sent over OTLP/HTTP (protobuf) to `GATEWAY_OTLP_ENDPOINT`. Off by
//! default; when off no tracer, layer or exporter exists, so it costs nothing.
//!
//! The exporter's HTTP requests go through the process's own reqwest client, spawned on the
//! tokio runtime (the SDK's batch processor exports from a thread of its own).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// The OTLP/HTTP path of traces under the receiver's base URL.
const TRACES_PATH: &str = "/v1/traces";
/// Longest an export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The tracer provider; shut it down at exit so the last spans are sent.
pub struct TraceExport {
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// Starts exporting to the OTLP/HTTP receiver at `endpoint` (its base URL, e.g.
    /// `http://otel-collector:4318`); must be called inside the tokio runtime.
    pub fn start(endpoint: &str) -> anyhow::Result<(TraceExport, SdkTracer)> {
        let url = format!("{}{TRACES_PATH}", endpoint.trim_end_matches('/'));
        let client = SpawnedClient {
            http: reqwest::Client::builder()
                .timeout(EXPORT_TIMEOUT)
                .build()
                .context("no HTTP client for the OTLP exporter")?,
            runtime: tokio::runtime::Handle::try_current()
                .context("the OTLP exporter needs the tokio runtime")?,
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .context("cannot build the OTLP exporter")?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("invitation-gateway")
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("invitation-gateway");
        Ok((TraceExport { provider }, tracer))
    }

    /// Sends what is buffered and stops.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "the last spans could not be exported");
        }
    }
}

/// Makes `span` (a request's) a child of the caller's span `trace_id`/`span_id`, so the trace
/// continues across the gateway. A no-op when traces are off.
pub fn continue_trace(span: &tracing::Span, trace_id: &str, span_id: &str, sampled: bool) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let (Ok(trace_id), Ok(span_id)) = (TraceId::from_hex(trace_id), SpanId::from_hex(span_id))
    else {
        return;
    };
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let remote = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    let parent = opentelemetry::Context::new().with_remote_span_context(remote);
    let _ = span.set_parent(parent);
}

/// reqwest on the tokio runtime, for an exporter that awaits from a thread outside it.
#[derive(Debug)]
struct SpawnedClient {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl SpawnedClient {
    async fn post(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let mut outgoing = self
            .http
            .request(parts.method, parts.uri.to_string())
            .body(body);
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name, value);
        }
        let answer = self
            .runtime
            .spawn(async move {
                let response = outgoing.send().await?;
                let status = response.status();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, body))
            })
            .await??;
        let (status, body) = answer;
        Ok(Response::builder().status(status.as_u16()).body(body)?)
    }
}

impl HttpClient for SpawnedClient {
    // What `#[async_trait]` generates, written out (no proc-macro dependency for one method).
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.post(request))
    }
}
