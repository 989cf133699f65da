//! `POST /api/sync`: one exchange of a device. The handler checks the device's token before
//! reading any of the body, decodes the request (JSON or binary, gzip or not), has
//! [`crate::projection::exchange`] run it, and writes the answer in the request's encoding,
//! compressed when the device accepts gzip. Each exchange of an enrolled device is logged as
//! one line of target `wardcrf::sync`: its counts, bytes and duration, never a value; and
//! every exchange, refused ones too, is counted in the metrics ([`crate::ops::metrics`]).
//!
//! Requests of protocol 2 on carry the repository epoch the device last synced with, and
//! every answer to them carries the current one ([`SyncResponse::epoch`]). A device whose
//! epoch is another (the repository was restored from a backup since) is answered with the
//! epoch alone, and syncs anew.

use crate::body::{MAX_BODY, Negotiated, read_body, read_limited};
use crate::error::ApiError;
use crate::projection::{self, Counts};
use crate::repository::DeviceAuth;
use crate::repository::HubPool;
use crate::state::{AppState, Store, blocking};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;
use wardcrf_core::repository::HubError;
use wardcrf_core::sync::{
    BinaryBody, EPOCH_PROTOCOL, JsonRequestError, PROTOCOL, SyncRequest, SyncResponse,
};

/// What an exchange sent, for its log line.
struct Sent {
    counts: Counts,
    bytes_in: usize,
    bytes_out: usize,
}

pub(crate) async fn sync<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    // The device and its token first: nothing of the body is read for an unknown one.
    let auth = match super::staff::device_of(&state, &headers).await {
        Ok(auth) => auth,
        Err(e) => {
            state.metrics.exchange_refused(started.elapsed(), &e);
            return Err(e);
        }
    };
    let (device, site) = (auth.device_id.clone(), auth.site_id.clone());
    let span = tracing::info_span!(target: "wardcrf::sync", "sync", device = %device, site = %site);
    let answered = answer(&state, auth, &headers, body)
        .instrument(span.clone())
        .await;
    let _span = span.enter();
    let took = started.elapsed();
    let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    match answered {
        Ok((response, sent)) => {
            let c = sent.counts;
            let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
            state.metrics.exchange_ok(
                took,
                n(c.pushed),
                n(c.sent),
                (n(sent.bytes_in), n(sent.bytes_out)),
            );
            tracing::info!(
                target: "wardcrf::sync",
                device = %device,
                site = %site,
                pushed = c.pushed,
                stored = c.stored,
                conflicts = c.conflicts,
                sent = c.sent,
                repush = c.repush,
                attempts = c.attempts,
                bytes_in = sent.bytes_in,
                bytes_out = sent.bytes_out,
                duration_ms = ms,
                "sync exchange"
            );
            Ok(response)
        }
        Err(e) => {
            state.metrics.exchange_refused(took, &e);
            let (status, code) = e.status_and_code();
            if status.is_server_error() {
                tracing::error!(
                    target: "wardcrf::sync",
                    device = %device,
                    site = %site,
                    code,
                    error = ?e,
                    duration_ms = ms,
                    "sync exchange failed"
                );
            } else {
                tracing::info!(
                    target: "wardcrf::sync",
                    device = %device,
                    site = %site,
                    code,
                    duration_ms = ms,
                    "sync exchange refused"
                );
            }
            Err(e)
        }
    }
}

/// The exchange of an authenticated device, from its body to the answer.
async fn answer<S: Store>(
    state: &AppState<S>,
    auth: DeviceAuth,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Response, Sent), ApiError> {
    if auth.revoked {
        return Err(ApiError::DeviceRevoked);
    }
    let body = read_limited(body, headers, MAX_BODY).await?;
    let bytes_in = body.len();
    let now = state.now();
    let pool = state.hub.clone();
    let forms = state.forms.clone();
    let negotiated = Negotiated::of(headers);
    let how = negotiated.clone();
    let span = tracing::Span::current();
    let (wire, gzipped, counts) = blocking(move || {
        let _span = span.enter();
        let request = decode(body, &how)?;
        let (response, counts) = match epoch_of(&pool, &request)? {
            Epoch::Other(current) => (restored(&request, current), Counts::default()),
            Epoch::Same(epoch) => {
                let mut done = projection::exchange(&pool, &auth, &request, &forms, now)?;
                done.exchanged.response.epoch = epoch;
                (done.exchanged.response, done.counts)
            }
        };
        // Serialise (and compress) here, off the async threads: a response can be large.
        let response = &response;
        let body = if how.binary {
            response
                .to_binary()
                .map_err(|e| ApiError::Internal(e.to_string()))?
        } else {
            serde_json::to_vec(response).map_err(|e| ApiError::Internal(e.to_string()))?
        };
        let (wire, gzipped) = how.compress(body);
        Ok::<_, ApiError>((wire, gzipped, counts))
    })
    .await??;
    if counts.stored > 0 {
        state.wake_projections();
    }
    let sent = Sent {
        counts,
        bytes_in,
        bytes_out: wire.len(),
    };
    Ok((negotiated.response(wire, gzipped), sent))
}

/// The repository's epoch as a request of `protocol` sees it.
enum Epoch {
    /// The device knows no other epoch: the exchange goes ahead, and its answer carries this
    /// one (`None` for a request of a protocol without epochs).
    Same(Option<String>),
    /// The device last synced with another epoch: the repository was restored since.
    Other(String),
}

/// Reads the repository's epoch for a request that carries epochs, and compares it with the
/// device's.
fn epoch_of<S: Store>(pool: &HubPool<S>, request: &SyncRequest) -> Result<Epoch, ApiError> {
    if !(EPOCH_PROTOCOL..=PROTOCOL).contains(&request.protocol) {
        return Ok(Epoch::Same(None));
    }
    let current = pool.lease()?.storage.epoch()?;
    Ok(match &request.epoch {
        Some(theirs) if *theirs != current => Epoch::Other(current),
        _ => Epoch::Same(Some(current)),
    })
}

/// The answer to a device that last synced with another epoch of the repository (it was
/// restored from a backup since): nothing of its push is taken (built on heads the restored
/// repository may lack, it could not be merged), and the answer names the current epoch, so
/// that the device pushes every case again and pulls from the start.
fn restored(request: &SyncRequest, epoch: String) -> SyncResponse {
    tracing::info!(
        target: "wardcrf::sync",
        "the device last synced before the repository was restored; it is told to sync anew"
    );
    SyncResponse {
        protocol: request.protocol,
        cursor: 0,
        more: true,
        cases: Vec::new(),
        repush: Vec::new(),
        epoch: Some(epoch),
    }
}

/// The sync request in the body, in the encoding it came in.
fn decode(body: Bytes, how: &Negotiated) -> Result<SyncRequest, ApiError> {
    let bytes = read_body(body, how.encoding.as_deref())?;
    if how.binary {
        SyncRequest::from_binary(&bytes).map_err(|e| ApiError::BadRequest(e.to_string()))
    } else {
        // Read only up to the push limits: more entries is refused as too large.
        SyncRequest::from_json(&bytes).map_err(|e| match e {
            JsonRequestError::TooManyCases(_) => ApiError::Hub(HubError::TooLarge(e.to_string())),
            JsonRequestError::Invalid(_) => ApiError::BadRequest(e.to_string()),
        })
    }
}
