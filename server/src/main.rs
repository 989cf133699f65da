//! `wardcrf-server --data DIR --listen ADDR [--database-url postgres://...] [--demo]`: the
//! WardCRF repository, in DIR/repository.db (SQLite) or in the given PostgreSQL database, with
//! its web console at `/`. `wardcrf-server --data DIR [--database-url ...] create-user NAME
//! --role ROLE [--site S] [--name "Printed Name"]` adds a staff user (of the console, or a
//! clinician of a site's tablets) and exits.
//!
//! `backup --out FILE`, `restore --from FILE` and `new-epoch` copy the repository, put a copy
//! back, and mark a repository restored by other means (`wardcrf_server::backup`).
//!
//! Log lines go to standard error, as text or JSON lines (`--log-format`), filtered by
//! `RUST_LOG` (default `info`); standard output carries the start-up banner scripts read
//! (`listening on ...`).

use axum::Extension;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use wardcrf_server::console::ConsoleSettings;
use wardcrf_server::console::demo::{DemoLogin, seed_demo};
use wardcrf_server::repository::postgres::{DatabaseTarget, with_causes};
use wardcrf_server::{
    AppState, HubPool, PostgresStorage, SqliteStorage, Store, Workers, router, serve, system_clock,
};

/// See `mimalloc` in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The WardCRF central repository: enrols ward devices and syncs their cases.
#[derive(Debug, Parser)]
#[command(name = "wardcrf-server", version)]
struct Args {
    /// Data directory (created if missing, 0700): admin-token (in the first server of a
    /// repository to start), metrics-token, pseudonym-key (unless --pseudonym-key), and
    /// repository.db unless --database-url is given (each 0600).
    #[arg(long)]
    data: PathBuf,
    /// Store the repository in this PostgreSQL database instead of DIR/repository.db
    /// (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE; TLS with --database-ca or
    /// ?sslmode=require).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The CA certificate (PEM) that signed the PostgreSQL server's certificate: connections
    /// to the database then use TLS and check its certificate and host name (also done, against
    /// Mozilla's roots, when the URL says sslmode=require).
    #[arg(long, value_name = "FILE", requires = "database_url")]
    database_ca: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// TLS certificate chain (PEM); serve HTTPS together with --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A certificate (PEM; the last one in the file counts) whose SHA-256 fingerprint the
    /// enrolment QR code carries for devices to pin: the hospital CA's, or the proxy's
    /// certificate when a TLS-terminating proxy serves the devices. The chain the devices are
    /// shown must contain it. Default: the last certificate of --tls-cert.
    #[arg(long, value_name = "FILE")]
    advertise_ca: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy only).
    #[arg(long)]
    insecure_http: bool,
    /// Database connections kept for concurrent requests (1 to 64). Syncs of one site always
    /// take turns; different sites, admin requests and enrolment run side by side.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    connections: u16,
    /// Seconds a client has to send a request's head (request line and headers; for the first
    /// request also the TLS handshake) once it connects or starts the request.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: u64,
    /// Seconds a client has to send a request's whole body once its head is in (a 32 MiB sync
    /// at 1 MiB/s fits in the default).
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_timeout: u64,
    /// Seconds a kept-alive connection may stay idle between requests before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    idle_timeout: u64,
    /// Connections open at once; beyond it new ones wait to be accepted until one closes.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// How log lines are written to standard error: text for people, or one JSON object per
    /// line for a log collector. RUST_LOG filters them (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// The file holding the token that GET /metrics requires (Authorization: Bearer), 32+
    /// characters; give several instances the same one. Default: DIR/metrics-token, written
    /// (0600) at first start.
    #[arg(long, value_name = "FILE")]
    metrics_token_file: Option<PathBuf>,
    /// The key of research-export pseudonyms (64 hex digits; made when missing). Every
    /// server of one repository must be given a copy of the same file: a server whose key
    /// differs from the one the database records refuses to start. Default: DATA/pseudonym-key.
    #[arg(long, value_name = "FILE")]
    pseudonym_key: Option<PathBuf>,
    /// Seed (once) two demo sites whose simulated tablets sync synthetic cases with open
    /// conflicts, and demo staff users; prints the console's address and the demo sign-in.
    #[arg(long)]
    demo: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The format of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Writes log lines to standard error in `format`, filtered by `RUST_LOG` (default `info`;
/// invalid directives are ignored).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(tracing_subscriber::filter::LevelFilter::INFO.into())
        .from_env_lossy();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Adds a staff user (of the web console, or of a site's tablets) and exits. The password
    /// is read from the environment variable WARDCRF_STAFF_PASSWORD or, when it is unset, from
    /// the first line of standard input; it is never printed.
    CreateUser {
        /// 1-64 lowercase letters, digits, '.', '_' and '-'.
        username: String,
        /// admin, data-manager, site-nurse or clinician (site nurses and clinicians sign in on
        /// their site's tablets; clinicians never on the console).
        #[arg(long)]
        role: String,
        /// The site of a site nurse or a clinician (required for those roles, refused for
        /// the others).
        #[arg(long)]
        site: Option<String>,
        /// The printed name shown with the person's entries and signatures (default: the
        /// user name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Writes a consistent copy of the repository to FILE (mode 0600) while servers go on
    /// serving: SQLite's DIR/repository.db, or with --database-url the PostgreSQL database
    /// (pg_dump -Fc; pg_dump must be on the PATH). The backup holds patient data. The admin
    /// token and the pseudonym key are not in it: back up those files of DIR beside it.
    Backup {
        /// The backup file to write (must not exist yet).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Replaces the repository with a backup (stop every server of this repository first):
    /// checks that FILE is a repository this version can open, gives it a new epoch (devices
    /// then push again what the backup lacks), and keeps the replaced SQLite database beside
    /// it. With --database-url: pg_restore --clean --if-exists into the database.
    Restore {
        /// The backup to restore (written by `backup`).
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Gives the repository a new epoch, after it was restored from a backup by other means
    /// (pg_restore, a file copy, a disk snapshot): devices then push again what it lacks.
    NewEpoch,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!(target: "wardcrf::server", "{message}");
            ExitCode::from(2)
        }
    }
}

/// The backend the repository is stored in: a pool of connections to it.
enum Backend {
    Sqlite(HubPool<SqliteStorage>),
    Postgres(HubPool<PostgresStorage>),
}

/// The router over `pool` with its projection workers running (`workers` of them), once
/// cases stored without a current projection are queued (and, with `--demo`, the demo is
/// seeded and projected).
fn prepared<S: Store>(
    pool: HubPool<S>,
    metrics_token: &str,
    settings: ConsoleSettings,
    data: &std::path::Path,
    key_path: &std::path::Path,
    workers: usize,
) -> Result<(axum::Router, Option<DemoLogin>, Workers), String> {
    let now = system_clock()();
    let admin = {
        let mut hub = pool.lease().map_err(|e| format!("admin token: {e}"))?;
        let admin = wardcrf_server::secret::shared_admin_token(&mut hub.storage, data, now)
            .map_err(|e| format!("admin token: {e}"))?;
        // The key of research-export pseudonyms: made once, kept for good (a new one would
        // change every recipient's pseudonyms), the same in every server of the repository.
        let (key, created) = wardcrf_server::export::pseudonym::ensure_key_at(key_path)
            .map_err(|e| format!("pseudonym key {}: {e}", key_path.display()))?;
        wardcrf_server::export::pseudonym::check_shared(
            &mut hub.storage,
            &key,
            key_path,
            created,
            now,
        )
        .map_err(|e| format!("pseudonym key: {e}"))?;
        if created {
            println!(
                "wrote a new pseudonym key to {} (back it up)",
                key_path.display()
            );
        }
        wardcrf_server::export::pseudonym::install(key);
        admin
    };
    match (&admin.file, admin.created) {
        (Some(path), true) => println!("wrote a new admin token to {}", path.display()),
        (Some(path), false) => println!("admin token in {}", path.display()),
        (None, _) => println!(
            "admin token: the repository's, made by another server of this repository (in \
             its data directory)"
        ),
    }
    let state = AppState::with_admin_hash(pool, admin.sha256, system_clock())
        .with_metrics_token(metrics_token);
    let n = state
        .backfill_projections()
        .map_err(|e| format!("queuing stored cases for projection: {e}"))?;
    if n > 0 {
        println!("queued {n} stored case(s) for projection");
    }
    let workers = state.start_projection_workers(workers);
    let demo = settings.demo;
    let app = router(state.clone()).layer(Extension(settings));
    let login = if demo {
        let login = seed_demo(&state, &app, data).map_err(|e| e.to_string())?;
        // The demo is shown projected.
        state
            .drain_projections()
            .map_err(|e| format!("projecting the demo cases: {e}"))?;
        if login.seeded_cases > 0 {
            println!(
                "demo: seeded {} synthetic cases from 3 simulated tablets",
                login.seeded_cases
            );
        }
        Some(login)
    } else {
        None
    };
    Ok((app, login, workers))
}

/// `create-user`: adds a staff user to the repository's storage.
fn create_user<S: Store>(
    pool: &HubPool<S>,
    username: &str,
    role: &str,
    site: Option<&str>,
    name: Option<&str>,
) -> Result<(), String> {
    let password = match std::env::var("WARDCRF_STAFF_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let mut hub = pool.lease().map_err(|e| e.to_string())?;
    let now = system_clock()();
    let user = wardcrf_server::console::NewStaffUser {
        username,
        role,
        site,
        display_name: name,
        password: &password,
    };
    wardcrf_server::console::add_staff_user(&mut hub.storage, user, now)
        .map_err(|e| format!("cannot add staff user {username}: {e}"))?;
    println!("added staff user {username}");
    Ok(())
}

/// `backup`, `restore` and `new-epoch`; `None` for the other commands.
fn backup_command(args: &Args) -> Option<Result<(), String>> {
    use wardcrf_server::backup;
    let data = &args.data;
    let url = args.database_url.as_deref();
    let secrets = format!(
        "the admin token and the pseudonym key are not in it: keep copies of {} and {} beside \
         it, as safely",
        data.join(serve::ADMIN_TOKEN_FILE).display(),
        data.join("pseudonym-key").display()
    );
    let done = match args.command.as_ref()? {
        Command::Backup { out } => match url {
            Some(url) => backup::backup_postgres(url, out),
            None => backup::backup_sqlite(data, out),
        }
        .map(|()| {
            println!(
                "wrote a backup of the repository to {} (mode 0600); it holds patient data: \
                 keep it as safe as the repository; {secrets}",
                out.display()
            );
        }),
        Command::Restore { from } => {
            let now = system_clock()();
            match url {
                Some(url) => backup::restore_postgres(url, from).map(|()| None),
                None => backup::restore_sqlite(data, from, now).map(|r| r.kept),
            }
            .map(|kept| {
                println!(
                    "restored the repository from {}, with a new epoch: devices push again \
                     what it lacks at their next sync",
                    from.display()
                );
                if let Some(kept) = kept {
                    println!(
                        "the replaced database is kept as {} (patient data: remove it once \
                         the restore is checked)",
                        kept.display()
                    );
                }
            })
        }
        Command::NewEpoch => match url {
            Some(url) => PostgresStorage::connect(url)
                .map_err(backup::BackupError::from)
                .and_then(|mut s| backup::new_epoch(&mut s)),
            None => {
                let db = data.join(serve::DATABASE_FILE);
                if db.is_file() {
                    SqliteStorage::open(&db)
                        .map_err(backup::BackupError::from)
                        .and_then(|mut s| backup::new_epoch(&mut s))
                } else {
                    Err(backup::BackupError::NoRepository(data.clone()))
                }
            }
        }
        .map(|_| println!("the repository has a new epoch: devices push again what it lacks")),
        Command::CreateUser { .. } => return None,
    };
    Some(done.map_err(|e| e.to_string()))
}

fn run(args: Args) -> Result<(), String> {
    if let Some(done) = backup_command(&args) {
        return done;
    }
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
    // Patient data: the directory and every file in it for this user only.
    serve::create_private_dir(&args.data)
        .map_err(|e| format!("cannot create {}: {e}", args.data.display()))?;
    let connections = usize::from(args.connections);
    // SQLite: held for the life of the process, so that no restore replaces the database
    // under this server.
    let _data_lock = match &args.database_url {
        None => Some(wardcrf_server::backup::hold_data_dir(&args.data).map_err(|e| e.to_string())?),
        Some(_) => None,
    };
    let store = match &args.database_url {
        Some(url) => {
            // The URL may carry a password: never echo it.
            let target = DatabaseTarget::parse(url, args.database_ca.as_deref())
                .map_err(|e| format!("PostgreSQL database: {}", with_causes(&e)))?;
            if target.plain_over_network() {
                tracing::warn!(
                    target: "wardcrf::server",
                    "the connection to PostgreSQL is not encrypted and the database is on \
                     another machine: give --database-ca (or sslmode=require in the URL)"
                );
            }
            let encrypted = target.encrypted();
            let pool = HubPool::new(
                Box::new(move || PostgresStorage::connect_to(&target)),
                connections,
            )
            .map_err(|e| format!("PostgreSQL database: {e}"))?;
            if encrypted {
                println!("repository in PostgreSQL (TLS)");
            } else {
                println!("repository in PostgreSQL");
            }
            Backend::Postgres(pool)
        }
        None => {
            let db = args.data.join(serve::DATABASE_FILE);
            let shown = db.display().to_string();
            serve::create_private_file(&db).map_err(|e| format!("{shown}: {e}"))?;
            let pool = HubPool::new(Box::new(move || SqliteStorage::open(&db)), connections)
                .map_err(|e| format!("{shown}: {e}"))?;
            Backend::Sqlite(pool)
        }
    };
    if let Some(Command::CreateUser {
        username,
        role,
        site,
        name,
    }) = &args.command
    {
        let (site, name) = (site.as_deref(), name.as_deref());
        return match &store {
            Backend::Sqlite(pool) => create_user(pool, username, role, site, name),
            Backend::Postgres(pool) => create_user(pool, username, role, site, name),
        };
    }
    let (metrics_path, metrics_token, created) =
        wardcrf_server::ops::ensure_metrics_token(&args.data, args.metrics_token_file.as_deref())
            .map_err(|e| format!("metrics token: {e}"))?;
    if created {
        println!(
            "wrote a new metrics token to {} (for GET /metrics)",
            metrics_path.display()
        );
    }
    let key_path = args.pseudonym_key.clone().unwrap_or_else(|| {
        args.data
            .join(wardcrf_server::export::pseudonym::PSEUDONYM_KEY_FILE)
    });
    let settings = ConsoleSettings {
        // Over HTTPS, or behind a TLS-terminating proxy (--insecure-http): Secure cookies.
        secure_cookies: tls_config.is_some() || args.insecure_http,
        demo: args.demo,
        enrol_pin: match args.advertise_ca.as_ref().or(args.tls_cert.as_ref()) {
            Some(pem) => Some(serve::advertised_pin(pem).map_err(|e| e.to_string())?),
            None => None,
        },
    };
    if let Some(pin) = &settings.enrol_pin {
        // Not a secret: an administrator compares it with the enrolment page's.
        println!("enrolment QR codes pin {pin}");
    }
    // Projection workers: one on SQLite (its writes are serialised anyway), two per process
    // on PostgreSQL (several processes drain one queue side by side).
    let (app, demo, workers) = match store {
        Backend::Sqlite(pool) => {
            prepared(pool, &metrics_token, settings, &args.data, &key_path, 1)?
        }
        Backend::Postgres(pool) => {
            prepared(pool, &metrics_token, settings, &args.data, &key_path, 2)?
        }
    };
    drop(metrics_token);
    for (path, mode) in serve::loose_modes(&args.data) {
        tracing::warn!(
            target: "wardcrf::server",
            "{} has mode {mode:04o}: other local users may read patient data or secrets; make \
             it private (chmod {} {})",
            path.display(),
            if path.is_dir() { "700" } else { "600" },
            path.display()
        );
    }

    let limits = serve::Limits {
        header_timeout: Duration::from_secs(args.header_timeout),
        body_timeout: Duration::from_secs(args.body_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let scheme = if tls_config.is_some() {
            "https"
        } else {
            "http"
        };
        console_banner(&format!("{scheme}://{addr}/"), demo.as_ref());
        println!("listening on {scheme}://{addr}");
        serve::serve(listener, app, tls_config, limits, serve::shutdown_signal())
            .await
            .map_err(|e| format!("server failed: {e}"))
    });
    // After the last request: the workers finish the batch in hand and stop.
    workers.stop();
    served
}

/// Where the web console is, and the demo sign-in with `--demo`: printed before `listening
/// on` (which scripts wait for, and may stop reading after), and never fatal to the server when
/// nobody reads standard output any more.
fn console_banner(url: &str, demo: Option<&DemoLogin>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "web console: {url}");
    if let Some(login) = demo {
        let users: Vec<String> = login
            .users
            .iter()
            .map(|(u, role, site)| match site {
                Some(s) => format!("{u} ({role}, {s})"),
                None => format!("{u} ({role})"),
            })
            .collect();
        let _ = writeln!(
            out,
            "demo login: user demo-admin, password {}",
            login.password
        );
        let _ = writeln!(out, "demo users (same password): {}", users.join(", "));
    }
    let _ = out.flush();
}
