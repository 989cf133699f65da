//! `wardcrf-server --data DIR --listen ADDR [--database-url postgres://...]`: the WardCRF
//! repository, in DIR/repository.db (SQLite) or in the given PostgreSQL database.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use wardcrf_core::sync::HubStorage;
use wardcrf_server::storage::Repository;
use wardcrf_server::{
    AppState, HubPool, PostgresStorage, SqliteStorage, router, serve, system_clock,
};

/// The WardCRF central repository: enrols ward devices and syncs their cases.
#[derive(Debug, Parser)]
#[command(name = "wardcrf-server", version)]
struct Args {
    /// Data directory (created if missing): admin-token, and repository.db unless
    /// --database-url is given.
    #[arg(long)]
    data: PathBuf,
    /// Store the repository in this PostgreSQL database instead of DIR/repository.db
    /// (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE; no TLS to the database).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// TLS certificate chain (PEM); serve HTTPS together with --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy only).
    #[arg(long)]
    insecure_http: bool,
    /// Database connections kept for concurrent requests (1 to 64). Syncs of one site always
    /// take turns; different sites, admin requests and enrolment run side by side.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    connections: u16,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The backend the repository is stored in: a pool of connections to it.
enum Store {
    Sqlite(HubPool<SqliteStorage>),
    Postgres(HubPool<PostgresStorage>),
}

/// The router over `pool`, once cases stored by an older version have their projections.
fn prepared<S: HubStorage + Repository + Send + 'static>(
    pool: HubPool<S>,
    token: &str,
) -> Result<axum::Router, String> {
    let state = AppState::with_pool(pool, token, system_clock());
    let n = state
        .backfill_projections()
        .map_err(|e| format!("projecting stored cases: {e}"))?;
    if n > 0 {
        println!("projected {n} case(s) stored before projections existed");
    }
    Ok(router(state))
}

fn run(args: Args) -> Result<(), String> {
    let tls = args.tls_cert.as_ref().zip(args.tls_key.as_ref());
    if tls.is_none() && !args.listen.ip().is_loopback() && !args.insecure_http {
        return Err(format!(
            "refusing to serve plain HTTP on the non-loopback address {}: use --tls-cert/--tls-key or --insecure-http",
            args.listen
        ));
    }
    let tls_config = match tls {
        Some((cert, key)) => Some(serve::tls_config(cert, key).map_err(|e| e.to_string())?),
        None => None,
    };
    std::fs::create_dir_all(&args.data)
        .map_err(|e| format!("cannot create {}: {e}", args.data.display()))?;
    let connections = usize::from(args.connections);
    let store = match &args.database_url {
        Some(url) => {
            // The URL may carry a password: never echo it.
            let url = url.clone();
            let pool = HubPool::new(
                Box::new(move || PostgresStorage::connect(&url)),
                connections,
            )
            .map_err(|e| format!("PostgreSQL database: {e}"))?;
            println!("repository in PostgreSQL");
            Store::Postgres(pool)
        }
        None => {
            let db = args.data.join("repository.db");
            let shown = db.display().to_string();
            let pool = HubPool::new(Box::new(move || SqliteStorage::open(&db)), connections)
                .map_err(|e| format!("{shown}: {e}"))?;
            Store::Sqlite(pool)
        }
    };
    let (token_path, token, created) =
        serve::ensure_admin_token(&args.data).map_err(|e| format!("admin token: {e}"))?;
    if created {
        println!("wrote a new admin token to {}", token_path.display());
    } else {
        println!("admin token in {}", token_path.display());
    }
    let app = match store {
        Store::Sqlite(pool) => prepared(pool, &token)?,
        Store::Postgres(pool) => prepared(pool, &token)?,
    };
    drop(token);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        match tls_config {
            Some(config) => {
                println!("listening on https://{addr}");
                serve::serve_tls(listener, app, config, serve::shutdown_signal())
                    .await
                    .map_err(|e| format!("server failed: {e}"))
            }
            None => {
                println!("listening on http://{addr}");
                axum::serve(listener, app)
                    .with_graceful_shutdown(serve::shutdown_signal())
                    .await
                    .map_err(|e| format!("server failed: {e}"))
            }
        }
    })
}
