//! What an operator watches: `/healthz` answers without a database or token, `/readyz`
//! checks the database and its schema version, `/metrics` is read with its own token only and
//! counts exchanges, cases, bytes and refusals without any id in a label. Shared by both
//! backends: run on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use serde_json::json;
use wardcrf_server::repository::sqlite::SCHEMA_VERSION;

/// The value of the sample `series` (name and labels as printed) in a metrics text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn metrics(server: &TestServer) -> String {
    let r = get(server.addr, "/metrics", Some(&server.metrics));
    assert_eq!(r.status, 200, "{:?}", r.body);
    String::from_utf8(r.raw).unwrap()
}

#[test]
fn healthz_and_readyz_answer_without_a_token() {
    let server = TestServer::start(&crate::backend(), "ops-ready");
    let r = get(server.addr, "/healthz", None);
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8_lossy(&r.raw), "ok\n");
    let r = get(server.addr, "/readyz", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"status": "ready", "checks": {"database": "ok", "projection_queue": "ok"}})
    );
    assert!(r.head.contains("cache-control: no-store"), "{}", r.head);
}

/// Moves the database's schema version one past what this binary knows, or back.
fn schema_ahead(server: &TestServer, ahead: bool) {
    match server.storage_at() {
        StorageAt::Sqlite(path) => {
            let v = if ahead {
                SCHEMA_VERSION + 1
            } else {
                SCHEMA_VERSION
            };
            rusqlite::Connection::open(path)
                .unwrap()
                .pragma_update(None, "user_version", v)
                .unwrap();
        }
        StorageAt::Postgres(config) => {
            let mut client = config.connect(postgres::NoTls).unwrap();
            let next = i32::try_from(SCHEMA_VERSION + 1).unwrap();
            if ahead {
                client
                    .execute(
                        "INSERT INTO schema_version (version, applied_at) VALUES ($1, 0)",
                        &[&next],
                    )
                    .unwrap();
            } else {
                client
                    .execute("DELETE FROM schema_version WHERE version = $1", &[&next])
                    .unwrap();
            }
        }
    }
}

#[test]
fn readyz_refuses_a_database_at_another_schema_version_until_it_is_back() {
    let server = TestServer::start(&crate::backend(), "ops-schema");
    assert_eq!(get(server.addr, "/readyz", None).status, 200);
    schema_ahead(&server, true);
    let r = get(server.addr, "/readyz", None);
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"status": "not_ready", "reason": "schema_mismatch",
               "checks": {"database": "schema_mismatch"}})
    );
    // Alive all the same: a supervisor must not restart it for this.
    assert_eq!(get(server.addr, "/healthz", None).status, 200);
    schema_ahead(&server, false);
    assert_eq!(get(server.addr, "/readyz", None).status, 200);
}

#[test]
fn metrics_are_read_with_the_metrics_token_only() {
    let server = TestServer::start(&crate::backend(), "ops-metrics-auth");
    for token in [None, Some(server.admin.as_str()), Some("not-the-token")] {
        let r = get(server.addr, "/metrics", token);
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(r.code(), "unauthorized");
    }
    let r = get(server.addr, "/metrics", Some(&server.metrics));
    assert_eq!(r.status, 200);
    assert!(
        r.head
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{}",
        r.head
    );
    let text = String::from_utf8(r.raw).unwrap();
    assert!(
        text.contains("# TYPE wardcrf_sync_exchanges_total counter"),
        "{text}"
    );
    assert!(text.contains("wardcrf_build_info{version="), "{text}");
    assert_eq!(sample(&text, "wardcrf_db_pool_connections_max"), Some(1.0));
}

#[test]
fn metrics_count_exchanges_cases_bytes_and_refusals_and_name_no_id() {
    let server = TestServer::start(&crate::backend(), "ops-metrics-count");
    server.site("ops-site-7f3a");
    let mut device = device(&server, "ops-site-7f3a", "ops-device");
    let mut cases = Vec::new();
    for hr in [71, 82] {
        let case = device.store.create_case("icrown-core", &[]).unwrap();
        device.set(&case, "vs_hr", json!(hr), None);
        cases.push(case);
    }
    let before = metrics(&server);
    assert_eq!(
        sample(&before, "wardcrf_sync_cases_pushed_total"),
        Some(0.0),
        "{before}"
    );
    device.sync().unwrap();
    // A device with an unknown token is refused before anything is read.
    let r = request(
        server.addr,
        "POST",
        "/api/sync",
        Some("no-such-device"),
        Some(b"{}"),
    );
    assert_eq!(r.status, 401);
    // The console's case view, by id.
    assert_eq!(
        server.admin_get(&format!("/api/cases/{}", cases[0])).status,
        200
    );
    // A path no route matches (a patient's name typed into a URL) is timed as `unmatched`.
    assert_eq!(get(server.addr, "/api/Vexmarrow-Ilse", None).status, 404);

    let text = metrics(&server);
    let at = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}:\n{text}"));
    assert_eq!(at("wardcrf_sync_exchanges_total{outcome=\"ok\"}"), 1.0);
    assert_eq!(at("wardcrf_sync_exchanges_total{outcome=\"refused\"}"), 1.0);
    assert_eq!(
        at("wardcrf_sync_refusals_total{reason=\"unauthorized\"}"),
        1.0
    );
    assert_eq!(at("wardcrf_sync_cases_pushed_total"), 2.0);
    assert!(at("wardcrf_sync_cases_pulled_total") >= 2.0, "{text}");
    assert!(at("wardcrf_sync_received_bytes_total") > 0.0);
    assert!(at("wardcrf_sync_sent_bytes_total") > 0.0);
    assert_eq!(at("wardcrf_sync_exchange_duration_seconds_count"), 2.0);
    assert!(
        at(
            "wardcrf_http_request_duration_seconds_count{route=\"/api/cases/{case_id}\",method=\"GET\",status=\"2xx\"}"
        ) == 1.0
    );
    assert!(
        at(
            "wardcrf_http_request_duration_seconds_count{route=\"/api/sync\",method=\"POST\",status=\"4xx\"}"
        ) >= 1.0
    );
    assert_eq!(
        at(
            "wardcrf_http_request_duration_seconds_count{route=\"unmatched\",method=\"GET\",status=\"4xx\"}"
        ),
        1.0
    );
    // No case, site or device id, nor any token or path, in the whole text.
    for secret in cases
        .iter()
        .map(String::as_str)
        .chain(["Vexmarrow"])
        .chain([
            "ops-site-7f3a",
            &device.store.device_id(),
            &device.http.token,
        ])
        .chain([server.admin.as_str(), server.metrics.as_str()])
    {
        assert!(!text.contains(secret), "{secret} in:\n{text}");
    }
}

#[test]
fn readyz_and_metrics_show_a_stuck_projection_queue() {
    let server = TestServer::start_lagging(&crate::backend(), "ops-queue");
    server.site("site-a");
    let mut tablet = device(&server, "site-a", "opsq1");
    let case = tablet.store.create_case("icrown-core", &[]).unwrap();
    tablet.set(&case, "vs_hr", json!(80), None);
    tablet.sync().unwrap();
    let ready = || get(server.addr, "/readyz", None);
    assert_eq!(ready().status, 200, "a fresh backlog is no fault");
    let text = metrics(&server);
    assert_eq!(sample(&text, "wardcrf_projection_queue_depth"), Some(1.0));
    // Nothing drains the queue for 16 minutes: no worker runs.
    server
        .now
        .fetch_add(16 * 60, std::sync::atomic::Ordering::SeqCst);
    let r = ready();
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert_eq!(r.body["reason"], "projection_queue_stuck", "{:?}", r.body);
    assert_eq!(r.body["checks"]["database"], "ok");
    let text = metrics(&server);
    assert_eq!(
        sample(&text, "wardcrf_projection_queue_oldest_seconds"),
        Some(960.0)
    );
    assert_eq!((server.projections.drain)(), 1);
    assert_eq!(ready().status, 200, "{:?}", ready().body);
    let text = metrics(&server);
    assert_eq!(sample(&text, "wardcrf_projection_queue_depth"), Some(0.0));
}
