//! The connection to PostgreSQL and whether it is encrypted.
//!
//! Several repository servers share one database over the hospital network, so what travels
//! between them is patient data. The connection is TLS (rustls, the ring provider, the
//! database's certificate checked against the given roots and its host name) when the
//! operator asks for it: `--database-ca FILE` (the CA that signed the database's certificate;
//! `sslmode=require` is then implied), or `sslmode=require` in the URL (the certificate is then
//! checked against Mozilla's roots). Otherwise the connection is plain, as PostgreSQL's own
//! default `prefer` would be with a client that cannot verify, and the server warns at start
//! when the database is not on this machine ([`DatabaseTls::plain_over_network`]).

use ::postgres::config::{Host, SslMode};
use ::postgres::{Client, Config, NoTls};
use std::sync::Arc;

/// Why the TLS settings of the database connection are not usable.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseTlsError {
    #[error("the database CA file {path} cannot be read")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the database CA file {0} holds no PEM certificate")]
    NoCertificate(String),
    #[error("the database CA file {path} holds a certificate rustls refuses")]
    BadCertificate {
        path: String,
        #[source]
        source: rustls::Error,
    },
    #[error("TLS to the database cannot be set up")]
    Rustls(#[from] rustls::Error),
    #[error("sslmode=require needs TLS, and no usable root certificate is known")]
    NoRoots,
    #[error("bad database URL (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=require])")]
    BadUrl(#[source] ::postgres::Error),
}

/// Where the repository's database is and how to reach it: the parsed `--database-url` and
/// its TLS settings.
#[derive(Debug, Clone)]
pub struct DatabaseTarget {
    pub(super) config: Config,
    pub(super) tls: DatabaseTls,
}

impl DatabaseTarget {
    /// Parses `url` (which may carry a password: never echoed) with the roots of `ca`.
    pub fn parse(url: &str, ca: Option<&std::path::Path>) -> Result<Self, DatabaseTlsError> {
        let mut config: Config = url.parse().map_err(DatabaseTlsError::BadUrl)?;
        let names_sslmode = url.contains("sslmode=");
        let tls = DatabaseTls::for_config(&mut config, names_sslmode, ca)?;
        Ok(DatabaseTarget { config, tls })
    }

    /// Whether the connection is plain to a database on another machine.
    pub fn plain_over_network(&self) -> bool {
        self.tls.plain_over_network(&self.config)
    }

    /// Whether connections are made over TLS.
    pub fn encrypted(&self) -> bool {
        matches!(self.tls, DatabaseTls::Rustls(_))
    }
}

/// How to reach the database: in the clear, or over TLS with these settings.
#[derive(Clone)]
pub enum DatabaseTls {
    Plain,
    Rustls(Arc<rustls::ClientConfig>),
}

impl std::fmt::Debug for DatabaseTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DatabaseTls::Plain => "DatabaseTls::Plain",
            DatabaseTls::Rustls(_) => "DatabaseTls::Rustls",
        })
    }
}

impl DatabaseTls {
    /// The TLS settings for `config` (parsed from the URL), with the roots of `ca` (a PEM file)
    /// when given; may raise the URL's `sslmode` to `require` (see the module documentation).
    fn for_config(
        config: &mut Config,
        url_names_sslmode: bool,
        ca: Option<&std::path::Path>,
    ) -> Result<DatabaseTls, DatabaseTlsError> {
        let mut roots = rustls::RootCertStore::empty();
        match ca {
            Some(path) => {
                let shown = path.display().to_string();
                let pem = std::fs::read(path).map_err(|source| DatabaseTlsError::Read {
                    path: shown.clone(),
                    source,
                })?;
                let certs = rustls_pemfile::certs(&mut pem.as_slice())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|source| DatabaseTlsError::Read {
                        path: shown.clone(),
                        source,
                    })?;
                if certs.is_empty() {
                    return Err(DatabaseTlsError::NoCertificate(shown));
                }
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|source| DatabaseTlsError::BadCertificate {
                            path: shown.clone(),
                            source,
                        })?;
                }
                if !url_names_sslmode {
                    config.ssl_mode(SslMode::Require);
                }
            }
            None if url_names_sslmode && config.get_ssl_mode() != SslMode::Disable => {
                let (added, _) = roots.add_parsable_certificates(
                    webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned(),
                );
                if added == 0 {
                    return Err(DatabaseTlsError::NoRoots);
                }
            }
            None => return Ok(DatabaseTls::Plain),
        }
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(DatabaseTls::Rustls(Arc::new(client)))
    }

    /// Opens one connection.
    pub(super) fn connect(&self, config: &Config) -> Result<Client, ::postgres::Error> {
        match self {
            DatabaseTls::Plain => config.connect(NoTls),
            DatabaseTls::Rustls(client) => config.connect(
                tokio_postgres_rustls::MakeRustlsConnect::new(client.as_ref().clone()),
            ),
        }
    }

    /// Whether this is a plain connection to a database on another machine (worth a warning:
    /// patient data would cross the network in the clear).
    fn plain_over_network(&self, config: &Config) -> bool {
        let local = |host: &Host| match host {
            Host::Unix(_) => true,
            Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        };
        matches!(self, DatabaseTls::Plain) && !config.get_hosts().iter().all(local)
    }
}

/// An error and its causes, for an operator (the URL itself is never part of them).
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
