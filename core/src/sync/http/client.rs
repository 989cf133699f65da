//! Setting up the HTTPS client: time-outs, the trusted roots (the platform's, Mozilla's
//! bundled ones, the hospital's own CA only, or one pinned certificate), no redirects, and the check of a repository
//! address (`https://`, or `http://` to this machine only).

use super::TransportError;
use super::pin::pinned_config;
use super::request::chain;
use crate::sync::CertPin;
use reqwest::Url;
use reqwest::blocking::Client;
use std::net::IpAddr;
use std::time::Duration;

/// How long to wait for a TCP/TLS connection to the repository.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one whole exchange may take (a batch of 100 cases on a slow ward network).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Which certificate authorities a repository's certificate may chain to when no hospital CA
/// (`ca_pem`) is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// The operating system's trust store and verifier.
    Platform,
    /// Mozilla's roots, built in: for platforms whose verifier the app would first have to set
    /// up (Android's needs JNI initialisation), and the default there.
    Bundled,
}

impl Roots {
    /// [`Roots::Bundled`] on Android, [`Roots::Platform`] elsewhere.
    pub const DEFAULT: Roots = if cfg!(target_os = "android") {
        Roots::Bundled
    } else {
        Roots::Platform
    };
}

/// Connection settings; the defaults suit a ward device.
#[derive(Clone)]
pub struct HttpOptions {
    /// The certificate authority (PEM, one or more certificates) that signed the repository's
    /// certificate, when it is the hospital's own: only these roots are then trusted.
    pub ca_pem: Option<Vec<u8>>,
    /// The roots trusted when `ca_pem` is not given.
    pub roots: Roots,
    /// The certificate the repository's chain must hold (from the enrolment QR code): when
    /// given, it is the only trust anchor and `ca_pem` and `roots` are not used (see
    /// [`super::pin`]).
    pub pin: Option<CertPin>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ca_pem: None,
            roots: Roots::DEFAULT,
            pin: None,
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .field("roots", &self.roots)
            .field("pin", &self.pin)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Installs ring as rustls' crypto provider (once per process; later calls are no-ops).
fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub(super) fn build_client(options: &HttpOptions) -> Result<Client, TransportError> {
    install_provider();
    let mut builder = Client::builder()
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("wardcrf/", env!("CARGO_PKG_VERSION")));
    if let Some(pin) = options.pin {
        let config = pinned_config(pin)
            .map_err(|e| TransportError::Refused(format!("cannot set up HTTPS: {}", chain(&e))))?;
        builder = builder.tls_backend_preconfigured(config);
    } else if let Some(pem) = &options.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
            TransportError::Refused(format!("the CA certificate file is not usable PEM: {e}"))
        })?;
        if certs.is_empty() {
            return Err(TransportError::Refused(
                "the CA certificate file holds no certificate".into(),
            ));
        }
        builder = builder.tls_certs_only(certs);
    } else if options.roots == Roots::Bundled {
        let certs = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter_map(|der| reqwest::Certificate::from_der(der).ok());
        builder = builder.tls_certs_only(certs);
    }
    builder
        .build()
        .map_err(|e| TransportError::Refused(format!("cannot set up HTTPS: {}", chain(&e))))
}

/// Checks the repository address: `https://`, or `http://` to a loopback address only.
pub(super) fn check_base_url(raw: &str) -> Result<String, TransportError> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        TransportError::Refused(format!(
            "'{}' is not a repository address like https://crf.example.org ({e})",
            raw.trim()
        ))
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TransportError::Refused(
            "the repository address must not contain a user name or password".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(TransportError::Refused(
            "the repository address must not contain '?' or '#'".into(),
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(TransportError::Refused(format!(
                "{} uses plain http://, which would send case data unencrypted; use https:// \
                 (http:// is accepted only for this machine: localhost, 127.0.0.1, [::1])",
                url.as_str().trim_end_matches('/')
            )));
        }
        other => {
            return Err(TransportError::Refused(format!(
                "'{other}:' is not a repository address; use https://"
            )));
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
