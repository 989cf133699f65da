//! The core's log records, forwarded to the app: the app gives a [`LogSink`] (Android routes it
//! to Logcat, iOS to `os_log`) and a most verbose [`LogLevel`] with [`set_log_sink`].
//!
//! Records come from the `tracing` events of the WardCRF crates only (targets `wardcrf…`), so a
//! dependency's records never reach the app. The core never puts a case value, a name, a token
//! or a URL's query in an event: what reaches the sink is counts, durations, HTTP statuses and
//! error kinds. A record is the event's message followed by its fields as `name=value`.
//!
//! The forwarding subscriber is installed once per process, the first time [`set_log_sink`] is
//! called; later calls replace the sink and the level. When the process already has a global
//! `tracing` subscriber of its own, [`set_log_sink`] leaves it in place and fails.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

/// How much the core tells: each level includes the ones above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Something failed (a sync that stopped).
    Error,
    /// Something went wrong but carries on.
    Warn,
    /// A sync's start and end with its counts and duration.
    Info,
    /// Each exchange of a sync: sizes, HTTP status, duration.
    Debug,
    Trace,
}

impl LogLevel {
    fn of(level: &Level) -> LogLevel {
        match *level {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE => LogLevel::Trace,
        }
    }

    fn filter(self) -> LevelFilter {
        match self {
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

/// Receives the core's log records: implemented by the app. It is called on the thread that
/// logs (the one running a sync, for instance) and must return quickly without calling back
/// into the library (a store may be busy).
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    /// One record: its level, where it comes from (`wardcrf_core::sync`) and its text.
    fn log(&self, level: LogLevel, target: String, message: String);
}

/// Why [`set_log_sink`] could not install the forwarding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum LogSetupError {
    /// The process already has a `tracing` subscriber of its own.
    #[error("another log subscriber is already installed in this process")]
    AlreadyInstalled,
}

/// The sink and level in force.
struct Current {
    sink: Arc<dyn LogSink>,
    max: LevelFilter,
}

/// What [`Forwarder`] forwards to; replaced by each [`set_log_sink`].
fn current() -> &'static RwLock<Option<Current>> {
    static CURRENT: OnceLock<RwLock<Option<Current>>> = OnceLock::new();
    CURRENT.get_or_init(|| RwLock::new(None))
}

/// Whether this process's global subscriber is ours: `Ok` once installed, `Err` when another
/// was there first.
fn installed() -> &'static Result<(), LogSetupError> {
    static INSTALLED: OnceLock<Result<(), LogSetupError>> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing::subscriber::set_global_default(Forwarder::default())
            .map_err(|_| LogSetupError::AlreadyInstalled)
    })
}

/// Sends the core's log records up to `max_level` to `sink`, from now on. A second call
/// replaces the sink and the level.
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) -> Result<(), LogSetupError> {
    if let Ok(mut slot) = current().write() {
        *slot = Some(Current {
            sink,
            max: max_level.filter(),
        });
    }
    installed().clone()?;
    // The level may have changed: have every call site ask again.
    tracing::callsite::rebuild_interest_cache();
    Ok(())
}

/// Whether a record at `metadata` comes from a WardCRF crate.
fn ours(metadata: &Metadata<'_>) -> bool {
    metadata.target().starts_with("wardcrf")
}

/// The global subscriber: forwards the WardCRF crates' events to the current sink. Spans are
/// given ids and otherwise ignored (events carry their own counts).
#[derive(Debug, Default)]
struct Forwarder {
    next_span: AtomicU64,
}

impl Forwarder {
    fn max(&self) -> LevelFilter {
        match current().read() {
            Ok(slot) => slot.as_ref().map_or(LevelFilter::OFF, |c| c.max),
            Err(_) => LevelFilter::OFF,
        }
    }
}

impl Subscriber for Forwarder {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if ours(metadata) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        ours(metadata) && *metadata.level() <= self.max()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max())
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let sink = match current().read() {
            Ok(slot) => match slot.as_ref() {
                Some(c) if *metadata.level() <= c.max => c.sink.clone(),
                _ => return,
            },
            Err(_) => return,
        };
        let mut text = Text::default();
        event.record(&mut text);
        sink.log(
            LogLevel::of(metadata.level()),
            metadata.target().to_string(),
            text.finish(),
        );
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// An event's text: its message, then its other fields as `name=value`.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        // Strings without the quotes `Debug` would add.
        self.record_debug(field, &format_args!("{value}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect(Mutex<Vec<(LogLevel, String, String)>>);

    impl LogSink for Collect {
        fn log(&self, level: LogLevel, target: String, message: String) {
            if let Ok(mut v) = self.0.lock() {
                v.push((level, target, message));
            }
        }
    }

    #[test]
    fn events_reach_the_sink_up_to_its_level_and_a_second_call_replaces_it() {
        let first = Arc::new(Collect::default());
        set_log_sink(first.clone(), LogLevel::Info).expect("installed");
        tracing::info!(target: "wardcrf_core::sync", pushed = 2, kind = "refused", "sync ended");
        tracing::debug!(target: "wardcrf_core::sync", "too detailed");
        tracing::info!(target: "hyper", "not ours");
        // Other tests of this process may log meanwhile: look for this test's records only.
        let texts = |c: &Collect| -> Vec<(LogLevel, String, String)> {
            c.0.lock().map(|v| v.clone()).unwrap_or_default()
        };
        let seen = texts(&first);
        assert!(seen.contains(&(
            LogLevel::Info,
            "wardcrf_core::sync".to_string(),
            "sync ended pushed=2 kind=refused".to_string()
        )));
        assert!(
            !seen
                .iter()
                .any(|r| r.2 == "too detailed" || r.2 == "not ours")
        );

        let second = Arc::new(Collect::default());
        set_log_sink(second.clone(), LogLevel::Debug).expect("replaced");
        tracing::debug!(target: "wardcrf_core::sync", "now wanted");
        assert!(texts(&second).iter().any(|r| r.2 == "now wanted"));
        assert!(!texts(&first).iter().any(|r| r.2 == "now wanted"));
    }
}
