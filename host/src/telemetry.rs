//! OpenTelemetry traces over OTLP/HTTP (protobuf), on only when the
//! standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; the SDK reads the other
//! standard `OTEL_*` variables (headers, timeout, sampler, batch settings,
//! resource attributes). The gateway's `tracing` spans become the
//! exported spans: one per client event (`socket.event`), per plugin call
//! (`plugin.call`) and per host import (`host.<interface>.<function>`), and
//! a plugin's outbound HTTP request carries the W3C `traceparent` of its
//! `host.http.send` span ([`inject`]).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::HeaderInjector;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;

/// The variables that turn tracing on.
const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// The service name when `OTEL_SERVICE_NAME` does not say.
const SERVICE_NAME: &str = "gateway";

/// Why traces cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built from the environment.
    #[error("cannot set up the OTLP trace exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The trace pipeline; dropping it flushes and stops the exporter.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// The pipeline when the environment asks for one, else `None`. Sets
    /// the W3C trace-context propagator used by [`inject`].
    pub fn from_env() -> Result<Option<Self>, TelemetryError> {
        let enabled = ENDPOINT_VARS
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
        if !enabled {
            return Ok(None);
        }
        let exporter = SpanExporter::builder().with_http().build()?;
        let mut resource = Resource::builder();
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name(SERVICE_NAME);
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        Ok(Some(Self { provider }))
    }

    /// The layer that turns the gateway's spans (info and above) into
    /// exported spans, whatever `LOG_LEVEL` lets into the logs.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let tracer: SdkTracer = self.provider.tracer(SERVICE_NAME);
        let layer: OpenTelemetryLayer<S, SdkTracer> =
            tracing_opentelemetry::layer().with_tracer(tracer);
        layer.with_filter(
            Targets::new()
                .with_target(env!("CARGO_CRATE_NAME"), LevelFilter::INFO)
                .with_default(LevelFilter::OFF),
        )
    }
}

impl Drop for Traces {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!("traces not flushed at exit: {e}");
        }
    }
}

/// Adds the current span's W3C `traceparent` to `headers` (nothing when
/// tracing is off: the default propagator injects nothing).
pub(crate) fn inject(headers: &mut reqwest::header::HeaderMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut HeaderInjector(headers));
    });
}
