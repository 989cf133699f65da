//! Starting the server: the private files of the data directory, and the front door: plain
//! HTTP and HTTPS (rustls, ring) served by one accept loop with header, body and idle timeouts
//! and a connection limit ([`serve`], [`Limits`]); one log span and line per request (method,
//! matched route, status, duration).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::Request;
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

/// The admin token's file name inside the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// The text kept in the private file `path` (trimmed), first writing `make()` there (mode
/// 0600, synced) when the file does not exist yet. Returns the text and whether it was just
/// written. Whether what was read is usable is the caller's to check.
pub fn private_file(
    path: &Path,
    make: impl FnOnce() -> io::Result<String>,
) -> io::Result<(String, bool)> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            let text = make()?;
            file.write_all(format!("{text}\n").as_bytes())?;
            file.sync_all()?;
            Ok((text, true))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let mut text = String::new();
            std::fs::File::open(path)?.read_to_string(&mut text)?;
            Ok((text.trim().to_string(), false))
        }
        Err(e) => Err(e),
    }
}

/// The SQLite database's file name inside the data directory.
pub const DATABASE_FILE: &str = "repository.db";

/// Creates the data directory `dir` (and missing parents) readable by its owner only (0700).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates `path` empty with mode 0600 when it does not exist (an existing file is left as it
/// is). SQLite then uses the empty file as a new database and gives its `-wal` and `-shm`
/// files the same mode.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The data directory and those of its private files (database, WAL, shared memory, admin
/// token, metrics token, pseudonym key, demo login) that other local users may read or write: each with its
/// permission bits. Files that do not exist are skipped.
pub fn loose_modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| m.permissions().mode() & 0o777)
        };
        let mut loose = Vec::new();
        if let Some(m) = mode(dir).filter(|m| m & 0o077 != 0) {
            loose.push((dir.to_path_buf(), m));
        }
        let files = [
            DATABASE_FILE.to_string(),
            format!("{DATABASE_FILE}-wal"),
            format!("{DATABASE_FILE}-shm"),
            ADMIN_TOKEN_FILE.to_string(),
            crate::ops::METRICS_TOKEN_FILE.to_string(),
            crate::export::pseudonym::PSEUDONYM_KEY_FILE.to_string(),
            crate::console::demo::LOGIN_FILE.to_string(),
        ];
        for name in files {
            let path = dir.join(name);
            if let Some(m) = mode(&path).filter(|m| m & 0o077 != 0) {
                loose.push((path, m));
            }
        }
        loose
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Vec::new()
    }
}

/// Reads the admin token from `dir/admin-token`, first writing a random one (mode 0600) if
/// the file does not exist. Returns the file's path, the token, and whether it was created.
pub fn ensure_admin_token(dir: &Path) -> io::Result<(PathBuf, String, bool)> {
    let path = dir.join(ADMIN_TOKEN_FILE);
    let (token, created) = private_file(&path, || {
        crate::secret::new_token().map_err(io::Error::other)
    })?;
    if token.len() < 32 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} holds no usable admin token (32+ characters); delete it to get a new one",
                path.display()
            ),
        ));
    }
    Ok((path, token, created))
}

/// Why the TLS certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(String),
    #[error("{0} holds no PEM private key")]
    NoKey(String),
    #[error("the certificate and key cannot be used: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The pin devices enrolling from the console's QR code check the TLS chain against: the
/// SHA-256 fingerprint of the last certificate in a PEM file (a chain file lists the server's
/// certificate first and its issuers after it, so this is the CA when the chain includes it,
/// else the server's own certificate).
pub fn advertised_pin(pem: &Path) -> Result<wardcrf_core::sync::CertPin, TlsError> {
    let bytes = std::fs::read(pem).map_err(|source| TlsError::Read {
        path: pem.display().to_string(),
        source,
    })?;
    let certs = rustls_pemfile::certs(&mut bytes.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: pem.display().to_string(),
            source,
        })?;
    let last = certs
        .last()
        .ok_or_else(|| TlsError::NoCertificate(pem.display().to_string()))?;
    Ok(wardcrf_core::sync::CertPin::of_der(last))
}

/// A rustls server configuration (ring provider, HTTP/1.1) from PEM files.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: cert.display().to_string(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(cert.display().to_string()));
    }
    let key_pem = read(key)?;
    let key_der = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|source| TlsError::Read {
            path: key.display().to_string(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey(key.display().to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key_der)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The front door's limits on connections (`wardcrf-server --header-timeout ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From a connection's start, or a request's first byte, until its whole head (request
    /// line and headers, and the TLS handshake before the first) has arrived.
    pub header_timeout: Duration,
    /// From a request's head until its whole body has arrived.
    pub body_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections open at once; further ones wait to be accepted.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// The address of the client that sent a request (the TCP peer), for handlers: `None` when
/// the router runs without the accept loop of [`serve`] (tests on `axum::serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// A request body that did not arrive within [`Limits::body_timeout`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within {0} s")]
pub struct BodyTimeout(pub u64);

/// Serves `app` on `listener`, over HTTPS when `tls` is given, until `shutdown` completes
/// (then in-flight requests get up to 30 s to finish).
///
/// Each connection is given up when its request head is not in within the header timeout,
/// when it stays idle between requests beyond the idle timeout, and each request body is
/// refused beyond the body timeout. At most `max_connections` are open at once: at the limit
/// the loop stops accepting and new connections wait in the kernel's backlog until one
/// closes. Waiting rather than closing them at once is deliberate: every open connection
/// ends within the header or idle timeout unless it is serving a request, so a waiting
/// device gets in within seconds, whereas closing new connections at the limit would let
/// whoever holds the open ones refuse everybody else for as long as they keep them.
/// Handlers see the client's address as `ConnectInfo<SocketAddr>` (and [`ClientAddr`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    tracing::warn!(target: "wardcrf::http", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let stop = stop_rx.clone();
        connections.spawn(async move {
            let _slot = slot;
            let phase = Arc::new(Phase::new(limits));
            let tcp = Watched {
                inner: tcp,
                phase: phase.clone(),
            };
            match acceptor {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp));
                    if let Ok(Ok(tls)) = handshake.await {
                        connection(tls, peer, app, limits, phase, stop).await;
                    } // else a failed or slow handshake: nothing to answer
                }
                None => connection(tcp, peer, app, limits, phase, stop).await,
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_secs(30), drain).await;
    Ok(())
}

/// Serves HTTP/1.1 on one accepted connection until it closes, times out (see [`Phase`]) or,
/// after `stop`, has finished its request in flight.
async fn connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    phase: Arc<Phase>,
    mut stop: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let phase = phase.clone();
        let app = hyper_util::service::TowerToHyperService::new(app);
        hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
            phase.busy();
            let mut request = request.map(|body| {
                Body::new(TimedBody {
                    inner: body,
                    deadline: Box::pin(tokio::time::sleep(limits.body_timeout)),
                    secs: limits.body_timeout.as_secs(),
                })
            });
            request.extensions_mut().insert(ConnectInfo(peer));
            let span = request_span(&request);
            let started = std::time::Instant::now();
            let answer = hyper::service::Service::call(&app, request).instrument(span.clone());
            let phase = phase.clone();
            async move {
                let response = answer.await?;
                log_answer(&span, response.status(), started.elapsed());
                // The connection is idle again once the answer is sent (the body dropped).
                let done = Done(phase);
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    Body::new(DoneBody {
                        inner: body,
                        _done: done,
                    })
                }))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's own header timer also runs while a kept-alive connection waits: `Phase` keeps
    // the two apart.
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(None);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let deadline = phase.deadline();
        let expiry = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            () = expiry => {
                if phase.expired() {
                    return; // dropping the connection closes it
                }
            }
            () = phase.changed.notified() => {}
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The span of one request: its method, and the route the router matched (recorded by
/// [`crate::routes`]: the template, `/api/cases/{case_id}`, never the path's ids nor the
/// query). Headers, bodies and tokens are never in it.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    tracing::info_span!(
        target: "wardcrf::http",
        "request",
        method = %request.method(),
        route = tracing::field::Empty,
    )
}

/// One line per request once its answer's head is ready: its status and how long it took.
fn log_answer(span: &tracing::Span, status: axum::http::StatusCode, took: Duration) {
    let duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        target: "wardcrf::http",
        parent: span,
        status = status.as_u16(),
        duration_ms,
        "request"
    );
}

/// Where a connection is between requests, and so when it is given up.
#[derive(Debug)]
struct Phase {
    limits: Limits,
    state: std::sync::Mutex<State>,
    /// Wakes the connection's watchdog when the state changes.
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Waiting for, or reading, a request head since then: the header timeout runs.
    Head(Instant),
    /// A request in the service: its handler and the body timeout bound it.
    Busy,
    /// Kept alive after an answer since then: the idle timeout runs.
    Idle(Instant),
}

impl Phase {
    fn new(limits: Limits) -> Phase {
        Phase {
            limits,
            state: std::sync::Mutex::new(State::Head(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn set(&self, new: impl FnOnce(State) -> State) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = new(*state);
        drop(state);
        self.changed.notify_one();
    }

    fn busy(&self) {
        self.set(|_| State::Busy);
    }

    fn idle(&self) {
        self.set(|_| State::Idle(Instant::now()));
    }

    /// Bytes came in: an idle connection starts reading a request head.
    fn read(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let State::Idle(_) = *state {
            *state = State::Head(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match *self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Head(since) => Some(since + self.limits.header_timeout),
            State::Idle(since) => Some(since + self.limits.idle_timeout),
            State::Busy => None,
        }
    }

    fn expired(&self) -> bool {
        self.deadline().is_some_and(|at| at <= Instant::now())
    }
}

/// Marks its connection idle when dropped (the answer's body is sent, or abandoned).
#[derive(Debug)]
struct Done(Arc<Phase>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.idle();
    }
}

/// A request body refused with [`BodyTimeout`] once its deadline passes before its end.
struct TimedBody {
    inner: hyper::body::Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    secs: u64,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(axum::BoxError::from)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(self.secs))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// An answer's body that marks its connection idle when dropped.
struct DoneBody {
    inner: Body,
    _done: Done,
}

impl http_body::Body for DoneBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's stream that reports incoming bytes to its [`Phase`].
#[derive(Debug)]
struct Watched<T> {
    inner: T,
    phase: Arc<Phase>,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.phase.read();
        }
        polled
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
