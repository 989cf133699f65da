//! `GET /api/exports/{csv|odm|fhir}?site&lang&research&recipient&purpose&date_shift&quasi`:
//! the export streamed as it is written, off the async threads, in bounded chunks (the export
//! itself is [`crate::export`]). The admin token, or a console session of an administrator or
//! data manager, may export.

use crate::error::ApiError;
use crate::export::{ExportOptions, Format, Purpose, Research};
use crate::state::{AppState, Store};
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use wardcrf_core::Lang;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportParams {
    site: Option<String>,
    lang: Option<String>,
    research: Option<bool>,
    recipient: Option<String>,
    /// Research: the uses the export needs besides secondary use (comma-separated codes).
    purpose: Option<String>,
    /// Research: shift every date of a case by its offset for the recipient.
    date_shift: Option<bool>,
    /// Research: `include` exports the quasi-identifying fields, `exclude` (the default) not.
    quasi: Option<String>,
}

impl ExportParams {
    /// Whether any option of research exports only is given.
    fn research_option(&self) -> Option<&'static str> {
        if self.purpose.is_some() {
            Some("purpose")
        } else if self.date_shift.is_some() {
            Some("date_shift")
        } else if self.quasi.is_some() {
            Some("quasi")
        } else {
            None
        }
    }
}

/// Chunks of the body in flight between the export thread and the connection.
const CHUNKS: usize = 8;
/// The size of one chunk.
const CHUNK: usize = 64 * 1024;

pub(crate) async fn get_export<S: Store>(
    State(state): State<AppState<S>>,
    Path(format): Path<String>,
    headers: HeaderMap,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    // The admin token, or a console session of an administrator or data manager.
    crate::console::check_export_access(&state, &headers).await?;
    let format = Format::parse(&format).ok_or(ApiError::NotFound)?;
    let Query(params) = params.map_err(|e| {
        ApiError::BadRequest(format!(
            "bad query: {}; use site, lang (en, ja or de), research=true, recipient, purpose, date_shift=true and quasi=include",
            e.body_text()
        ))
    })?;
    let lang = match params.lang.as_deref() {
        None => None,
        Some(l) => Some(
            l.parse::<Lang>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        ),
    };
    if !params.research.unwrap_or(false)
        && let Some(option) = params.research_option()
    {
        return Err(ApiError::BadRequest(format!(
            "{option} is for research exports only: add research=true and recipient"
        )));
    }
    let research = match (
        params.research.unwrap_or(false),
        params.recipient.as_deref(),
    ) {
        (false, None) => None,
        (true, Some(recipient)) => {
            let purposes = Purpose::parse_list(params.purpose.as_deref().unwrap_or(""))
                .map_err(ApiError::BadRequest)?;
            let quasi = match params.quasi.as_deref() {
                None | Some("exclude") => false,
                Some("include") => true,
                Some(_) => {
                    return Err(ApiError::BadRequest(
                        "quasi is include or exclude (the default)".into(),
                    ));
                }
            };
            Some(
                Research::new(
                    recipient,
                    crate::export::pseudonym::process_key()
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                )
                .map_err(|e| ApiError::BadRequest(e.to_string()))?
                .with_purposes(&purposes)
                .with_date_shift(params.date_shift.unwrap_or(false))
                .with_quasi_identifiers(quasi),
            )
        }
        (true, None) => {
            return Err(ApiError::BadRequest(
                "a research export needs recipient=NAME: its pseudonyms are made for one recipient"
                    .into(),
            ));
        }
        (false, Some(_)) => {
            return Err(ApiError::BadRequest(
                "recipient is for research exports only: add research=true".into(),
            ));
        }
    };
    let file_name = format.file_name(research.is_some());
    let options = ExportOptions {
        site: params.site,
        lang,
        now: state.now(),
        research,
    };
    let forms = state.forms.clone();
    if forms.catalog.is_none() {
        return Err(ApiError::Internal(
            "the bundled form catalog could not be loaded".into(),
        ));
    }
    let pool = state.hub.clone();
    let (tx, rx) = mpsc::channel(CHUNKS);
    // Written off the async threads; the body carries each chunk as it is ready. A failure
    // half-way can only cut the body short (the status is sent): the client sees an
    // incomplete transfer, and the server logs the step (never a value).
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _span = span.enter();
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = (|| {
            let catalog = forms
                .catalog
                .as_ref()
                .ok_or_else(|| crate::export::ExportError::Forms("no catalog".into()))?;
            // Every case stored now is exported as stored: the queue is drained first (and
            // a case pushed meanwhile is read from its document: see `export`).
            crate::projection::drain(&pool, &forms, options.now)?;
            let mut hub = pool.lease()?;
            let writer =
                crate::export::export(format, &mut hub.storage, catalog, &options, writer)?;
            writer.finish()?;
            Ok::<_, crate::export::ExportError>(())
        })();
        if let Err(e) = result {
            tracing::error!(target: "wardcrf::export", format = format.media_type(), error = %e, "export failed");
            let _ = tx.blocking_send(Err(std::io::Error::other("the export failed")));
        }
    });
    let mut response = Body::new(ChannelBody(rx)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Sends what is written in chunks to the response body (blocking while the client is
/// behind: bounded memory).
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The receiving end as an HTTP body.
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(http_body::Frame::data)))
    }
}
