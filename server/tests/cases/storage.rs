//! The storage contract (`Repository` + core `HubStorage`) that every backend honours.
//! Shared by both backends: run on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use std::fmt::Debug;
use wardcrf_core::repository::{HubStorage, PushedDoc, Put, Sent};
use wardcrf_server::Repository;
use wardcrf_server::repository::{AtomicHub, RepoError, StaffRecord, WardStaff};

/// A device unlock key (64 hex digits).
const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// `#[test] fn $name` running `$body` on a fresh, empty storage of the target's backend.
macro_rules! storage_test {
    ($name:ident, $body:ident) => {
        #[test]
        fn $name() {
            match crate::backend() {
                Backend::Sqlite => $body(wardcrf_server::SqliteStorage::open_in_memory().unwrap()),
                Backend::Postgres(url) => {
                    let schema = PgSchema::new(&url, stringify!($name));
                    $body(schema.storage());
                }
            }
        }
    };
}

storage_test!(sequence_is_per_site_and_cases_after_is_ordered, sequence);
fn sequence<S: HubStorage>(mut s: S)
where
    S::Error: Debug,
{
    assert_eq!(
        s.put_case("c1", "A", "f", b"1", None).unwrap(),
        Put::Stored(1)
    );
    assert_eq!(
        s.put_case("c2", "A", "f", b"2", None).unwrap(),
        Put::Stored(2)
    );
    assert_eq!(
        s.put_case("c3", "B", "f", b"3", None).unwrap(),
        Put::Stored(1)
    );
    assert_eq!(
        s.put_case("c1", "A", "f", b"1b", Some(1)).unwrap(),
        Put::Stored(3)
    );
    assert_eq!(
        s.cases_after("A", 0, 10).unwrap(),
        vec![("c2".to_string(), 2), ("c1".to_string(), 3)]
    );
    assert_eq!(s.cases_after("A", 2, 10).unwrap().len(), 1);
    assert_eq!(s.cases_after("A", 0, 1).unwrap().len(), 1);
    assert_eq!(s.cases_after("A", 0, usize::MAX).unwrap().len(), 2);
    assert!(s.cases_after("Z", 0, 10).unwrap().is_empty());
    let c = s.case("c1").unwrap().unwrap();
    assert_eq!(
        (c.site.as_str(), c.form_id.as_str(), c.doc.as_slice(), c.seq),
        ("A", "f", &b"1b"[..], 3)
    );
    assert!(s.case("nope").unwrap().is_none());
}

storage_test!(sent_heads_become_known_only_once_confirmed, sent_heads);
fn sent_heads<S: HubStorage>(mut s: S)
where
    S::Error: Debug,
{
    s.record_sent("d", "c", b"h1", 1).unwrap();
    s.record_sent("d", "c", b"h2", 2).unwrap();
    s.record_sent("e", "c", b"x", 1).unwrap();
    assert_eq!(s.device_heads("d", "c").unwrap(), None);
    // One record per device and case waits: the newest (h2 at 2), so h1 is never known.
    s.confirm("d", 1).unwrap();
    assert_eq!(s.device_heads("d", "c").unwrap(), None);
    s.confirm("d", 5).unwrap();
    assert_eq!(s.device_heads("d", "c").unwrap(), Some(b"h2".to_vec()));
    assert_eq!(s.device_heads("e", "c").unwrap(), None);
    // Several sends of one case confirmed at once: the last one sent wins.
    s.record_sent("d", "k", b"k1", 6).unwrap();
    s.record_sent("d", "k", b"k2", 7).unwrap();
    s.record_sent("d", "k", b"k3", 7).unwrap();
    s.record_sent("d", "m", b"m1", 9).unwrap();
    s.confirm("d", 8).unwrap();
    assert_eq!(s.device_heads("d", "k").unwrap(), Some(b"k3".to_vec()));
    assert_eq!(s.device_heads("d", "m").unwrap(), None);
    // Confirmed sends are gone: confirming again changes nothing.
    s.confirm("d", 8).unwrap();
    assert_eq!(s.device_heads("d", "k").unwrap(), Some(b"k3".to_vec()));
    s.confirm("d", 9).unwrap();
    assert_eq!(s.device_heads("d", "m").unwrap(), Some(b"m1".to_vec()));
}

storage_test!(
    sends_recorded_together_are_each_kept_as_if_recorded_alone,
    sent_together
);
fn sent_together<S: HubStorage>(mut s: S)
where
    S::Error: Debug,
{
    let sent = |id: &str, heads: &[u8], seq| Sent {
        case_id: id.into(),
        heads: heads.to_vec(),
        seq,
    };
    s.record_sent_many("d", &[]).unwrap();
    s.record_sent("d", "a", b"a0", 1).unwrap();
    // One exchange: a replaces its waiting record, b and c are new; then a single one.
    s.record_sent_many(
        "d",
        &[
            sent("a", b"a1", 3),
            sent("b", b"b1", 4),
            sent("c", b"c1", 9),
        ],
    )
    .unwrap();
    s.record_sent_many("d", &[sent("e", b"e1", 2)]).unwrap();
    s.record_sent_many("other", &[sent("a", b"x", 1), sent("b", b"y", 1)])
        .unwrap();
    s.confirm("d", 4).unwrap();
    let known = |s: &mut S, id: &str| s.device_heads("d", id).unwrap();
    assert_eq!(known(&mut s, "a"), Some(b"a1".to_vec()));
    assert_eq!(known(&mut s, "b"), Some(b"b1".to_vec()));
    assert_eq!(known(&mut s, "c"), None);
    assert_eq!(known(&mut s, "e"), Some(b"e1".to_vec()));
    assert_eq!(s.device_heads("other", "a").unwrap(), None);
    s.confirm("d", 9).unwrap();
    assert_eq!(known(&mut s, "c"), Some(b"c1".to_vec()));
}

storage_test!(
    documents_stored_together_take_the_site_sequence_in_order_and_are_each_checked,
    pushed_together
);
fn pushed_together<S: HubStorage>(mut s: S)
where
    S::Error: Debug,
{
    let doc = |case_id, doc, read_seq| PushedDoc {
        case_id,
        form_id: "f",
        doc,
        read_seq,
    };
    assert_eq!(
        s.put_case("old", "A", "f", b"o1", None).unwrap(),
        Put::Stored(1)
    );
    assert_eq!(
        s.put_case("theirs", "B", "f", b"t", None).unwrap(),
        Put::Stored(1)
    );
    assert!(s.put_pushed_many("A", "d", &[]).unwrap().is_empty());
    // New cases and a case as read, in one call: numbers in the order given.
    let puts = s
        .put_pushed_many(
            "A",
            "d",
            &[
                doc("n1", b"1", None),
                doc("old", b"o2", Some(1)),
                doc("n2", b"2", None),
            ],
        )
        .unwrap();
    assert_eq!(puts, [Put::Stored(2), Put::Stored(3), Put::Stored(4)]);
    assert_eq!(s.case("old").unwrap().unwrap().doc, b"o2".to_vec());
    assert_eq!(s.case("n2").unwrap().unwrap().seq, 4);
    assert_eq!(
        s.cases_after("A", 0, 10).unwrap(),
        vec![
            ("n1".to_string(), 2),
            ("old".to_string(), 3),
            ("n2".to_string(), 4)
        ]
    );
    // Read before a later write: refused, and left as it is.
    let puts = s
        .put_pushed_many(
            "A",
            "d",
            &[doc("n3", b"3", None), doc("old", b"o3", Some(1))],
        )
        .unwrap();
    assert!(matches!(puts[0], Put::Stored(_)));
    assert_eq!(puts[1], Put::Changed);
    assert_eq!(s.case("old").unwrap().unwrap().doc, b"o2".to_vec());
    // Another site's case, as new or as read: refused, and left as it is.
    for read in [None, Some(1)] {
        let puts = s
            .put_pushed_many(
                "A",
                "d",
                &[doc("theirs", b"x", read), doc("n4", b"4", None)],
            )
            .unwrap();
        assert_eq!(puts.first(), Some(&Put::OtherSite));
    }
    assert_eq!(s.case("theirs").unwrap().unwrap().doc, b"t".to_vec());
    // A new case whose id is taken at this site: refused as changed.
    let puts = s
        .put_pushed_many(
            "A",
            "d",
            &[doc("n1", b"again", None), doc("n5", b"5", None)],
        )
        .unwrap();
    assert_eq!(puts.first(), Some(&Put::Changed));
    assert_eq!(s.case("n1").unwrap().unwrap().doc, b"1".to_vec());
}

storage_test!(
    cases_and_known_heads_read_together_come_in_the_order_asked,
    read_together
);
fn read_together<S: HubStorage>(mut s: S)
where
    S::Error: Debug,
{
    s.put_case("c1", "A", "f", b"1", None).unwrap();
    s.put_case("c2", "B", "g", b"2", None).unwrap();
    s.record_sent("d", "c2", b"h2", 1).unwrap();
    s.record_sent("d", "c1", b"h1", 1).unwrap();
    s.record_sent("e", "c1", b"x", 1).unwrap();
    s.confirm("d", 1).unwrap();
    s.confirm("e", 1).unwrap();
    assert!(s.cases_by_id(&[]).unwrap().is_empty());
    let got = s.cases_by_id(&["c2", "nope", "c1"]).unwrap();
    let got: Vec<Option<String>> = got
        .into_iter()
        .map(|c| c.map(|c| format!("{} {} {:?} {}", c.site, c.form_id, c.doc, c.seq)))
        .collect();
    assert_eq!(
        got,
        [
            Some(format!("B g {:?} 1", b"2")),
            None,
            Some(format!("A f {:?} 1", b"1"))
        ]
    );
    assert_eq!(
        s.device_heads_many("d", &["c1", "nope", "c2"]).unwrap(),
        [Some(b"h1".to_vec()), None, Some(b"h2".to_vec())]
    );
    assert_eq!(
        s.device_heads_many("other", &["c1", "c2"]).unwrap(),
        [None, None]
    );
}

storage_test!(
    enrolment_is_one_time_and_checks_expiry_and_duplicates,
    enrolment
);
fn enrolment<S: Repository + HubStorage>(mut s: S)
where
    <S as HubStorage>::Error: Debug,
{
    assert_eq!(
        s.create_enroll_code(b"code", "A", 100),
        Err(RepoError::UnknownSite)
    );
    s.create_site("A", "Site A", 1).unwrap();
    assert_eq!(s.create_site("A", "again", 1), Err(RepoError::SiteExists));
    s.create_enroll_code(b"code", "A", 100).unwrap();
    s.create_enroll_code(b"old", "A", 10).unwrap();
    s.create_enroll_code(b"dup", "A", 100).unwrap();
    assert_eq!(
        s.enroll(b"zzz", "d1", b"t1", KEY, 50),
        Err(RepoError::InvalidCode)
    );
    assert_eq!(
        s.enroll(b"old", "d1", b"t1", KEY, 50),
        Err(RepoError::CodeExpired)
    );
    // Expiry is exclusive: a code is dead at its expiry second.
    assert_eq!(
        s.enroll(b"code", "d1", b"t1", KEY, 100),
        Err(RepoError::CodeExpired)
    );
    assert_eq!(s.enroll(b"code", "d1", b"t1", KEY, 50).unwrap(), "A");
    assert_eq!(
        s.enroll(b"code", "d2", b"t2", KEY, 50),
        Err(RepoError::CodeUsed)
    );
    assert_eq!(
        s.enroll(b"dup", "d1", b"t3", KEY, 50),
        Err(RepoError::DeviceExists)
    );
    // The refused duplicate left its code unused.
    assert_eq!(s.enroll(b"dup", "d2", b"t2", KEY, 50).unwrap(), "A");
    let auth = s.device_by_token(b"t1").unwrap().unwrap();
    assert_eq!(
        (auth.device_id.as_str(), auth.site_id.as_str(), auth.revoked),
        ("d1", "A", false)
    );
    assert_eq!(s.device_by_token(b"nope").unwrap(), None);
    s.revoke_device("d1").unwrap();
    assert!(s.device_by_token(b"t1").unwrap().unwrap().revoked);
    assert_eq!(s.revoke_device("nope"), Err(RepoError::UnknownDevice));
    s.record_sync("d2", 77).unwrap();
    let devices = s.devices().unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(
        (devices[0].enrolled_at, devices[0].last_sync_at),
        (50, None)
    );
    assert_eq!(devices[1].last_sync_at, Some(77));
    assert_eq!(s.sites().unwrap()[0].devices, 2);
}

storage_test!(lists_sort_bytewise_and_count_per_site, listing);
fn listing<S: Repository + HubStorage>(mut s: S)
where
    <S as HubStorage>::Error: Debug,
{
    // Bytewise order ('-' < digits < letters), whatever the database's locale.
    for id in ["jpa", "jp-b", "j0", "b"] {
        s.create_site(id, &format!("Site {id}"), 1).unwrap();
    }
    let ids: Vec<String> = s.sites().unwrap().into_iter().map(|x| x.site_id).collect();
    assert_eq!(ids, ["b", "j0", "jp-b", "jpa"]);
    s.create_enroll_code(b"c1", "jpa", 100).unwrap();
    s.create_enroll_code(b"c2", "jp-b", 100).unwrap();
    s.create_enroll_code(b"c3", "jp-b", 100).unwrap();
    s.enroll(b"c1", "z-dev", b"t1", KEY, 5).unwrap();
    s.enroll(b"c2", "zdev", b"t2", KEY, 5).unwrap();
    s.enroll(b"c3", "a-dev", b"t3", KEY, 5).unwrap();
    let devices: Vec<(String, String)> = s
        .devices()
        .unwrap()
        .into_iter()
        .map(|d| (d.site_id, d.device_id))
        .collect();
    assert_eq!(
        devices,
        [
            ("jp-b".to_string(), "a-dev".to_string()),
            ("jp-b".to_string(), "zdev".to_string()),
            ("jpa".to_string(), "z-dev".to_string()),
        ]
    );
    s.put_case("k1", "jp-b", "f", b"x", None).unwrap();
    s.put_case("k2", "jp-b", "f", b"y", None).unwrap();
    s.put_case("k1", "jp-b", "f", b"z", Some(1)).unwrap();
    let sites = s.sites().unwrap();
    assert_eq!((sites[2].devices, sites[2].cases), (2, 2));
    assert_eq!((sites[3].devices, sites[3].cases), (1, 0));
    // Large times survive the round trip.
    s.record_sync("zdev", 4_000_000_000).unwrap();
    assert_eq!(s.devices().unwrap()[1].last_sync_at, Some(4_000_000_000));
}

storage_test!(documents_are_stored_byte_exact, documents);
fn documents<S: HubStorage>(mut s: S)
where
    S::Error: Debug,
{
    let doc: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    s.put_case("big", "A", "f", &doc, None).unwrap();
    assert_eq!(s.case("big").unwrap().unwrap().doc, doc);
    s.put_case("empty", "A", "f", b"", None).unwrap();
    assert_eq!(s.case("empty").unwrap().unwrap().doc, b"");
}

storage_test!(projections_are_replaced_and_filtered, projections);
fn projections<S: Repository>(mut s: S) {
    use wardcrf_server::repository::{CaseQuery, ProjectionRow};
    let row =
        |case_id: &str, site: &str, status: &str, n_conflicts: u64, n_flags: u64| ProjectionRow {
            case_id: case_id.into(),
            site_id: site.into(),
            form_id: "icrown-core".into(),
            modules: "[]".into(),
            status: status.into(),
            deleted: false,
            values: r#"{"vs_hr":80}"#.into(),
            conflicts: "[]".into(),
            n_conflicts,
            flags: r#"{"errors":[],"warnings":[]}"#.into(),
            n_flags,
            updated_at: 7,
            projected_seq: 0,
        };
    assert_eq!(s.projection("c1").unwrap(), None);
    s.put_projection(&row("c1", "A", "draft", 0, 0)).unwrap();
    s.put_projection(&row("c2", "A", "complete", 1, 0)).unwrap();
    s.put_projection(&row("c3", "B", "draft", 0, 2)).unwrap();
    let mut again = row("c1", "A", "signed", 0, 3);
    again.updated_at = 9;
    again.deleted = true;
    s.put_projection(&again).unwrap();
    assert_eq!(s.projection("c1").unwrap(), Some(again));
    let ids = |s: &mut S, q: CaseQuery| -> Vec<String> {
        s.projections(&q)
            .unwrap()
            .into_iter()
            .map(|c| c.case_id)
            .collect()
    };
    assert_eq!(ids(&mut s, CaseQuery::default()), ["c1", "c2", "c3"]);
    let site = |x: &str| Some(x.to_string());
    let q = CaseQuery {
        site_id: site("A"),
        ..CaseQuery::default()
    };
    assert_eq!(ids(&mut s, q), ["c1", "c2"]);
    let q = CaseQuery {
        flagged: Some(true),
        ..CaseQuery::default()
    };
    assert_eq!(ids(&mut s, q), ["c1", "c3"]);
    let q = CaseQuery {
        flagged: Some(false),
        ..CaseQuery::default()
    };
    assert_eq!(ids(&mut s, q), ["c2"]);
    let q = CaseQuery {
        conflicts: Some(true),
        site_id: site("A"),
        ..CaseQuery::default()
    };
    assert_eq!(ids(&mut s, q), ["c2"]);
    let q = CaseQuery {
        status: site("draft"),
        ..CaseQuery::default()
    };
    assert_eq!(ids(&mut s, q), ["c3"]);
    let listed = s.projections(&CaseQuery::default()).unwrap();
    assert_eq!(
        (listed[0].flags, listed[0].conflicts, listed[0].updated_at),
        (3, 0, 9)
    );
    assert!(listed[0].deleted);
}

storage_test!(a_batch_commits_whole_or_rolls_back_whole, batches);
fn batches<S: HubStorage + Repository>(mut s: S)
where
    S::Error: Debug,
{
    s.begin().unwrap();
    assert_eq!(
        s.put_case("c1", "A", "f", b"1", None).unwrap(),
        Put::Stored(1)
    );
    s.confirm("d1", 1).unwrap();
    s.rollback();
    assert_eq!(s.case("c1").unwrap(), None, "rolled back");
    s.rollback(); // nothing open: nothing happens
    s.begin().unwrap();
    assert_eq!(
        s.put_case("c1", "A", "f", b"1", None).unwrap(),
        Put::Stored(1)
    );
    assert_eq!(
        s.put_case("c2", "A", "f", b"2", None).unwrap(),
        Put::Stored(2)
    );
    s.record_sent("d1", "c1", b"h", 1).unwrap();
    s.confirm("d1", 2).unwrap();
    s.commit().unwrap();
    assert_eq!(s.cases_after("A", 0, 10).unwrap().len(), 2);
    assert_eq!(s.device_heads("d1", "c1").unwrap(), Some(b"h".to_vec()));
    // Outside a batch every step is still its own transaction.
    assert_eq!(
        s.put_case("c3", "A", "f", b"3", None).unwrap(),
        Put::Stored(3)
    );
}

/// A step of the core's `HubStorage` inside a repository transaction, its error as a
/// `RepoError` (as a caller of `atomically` maps it).
fn hub_step<T, E: Debug>(r: Result<T, E>) -> Result<T, RepoError> {
    r.map_err(|e| RepoError::Storage(format!("{e:?}")))
}

storage_test!(
    atomically_commits_on_ok_and_rolls_back_on_err_and_nested_calls_join,
    atomically
);
fn atomically<S: HubStorage + Repository>(mut s: S)
where
    <S as HubStorage>::Error: Debug,
{
    // Err: nothing of it stays, and the closure's error comes back as it was.
    let failed: Result<(), RepoError> = s.atomically(|s| {
        s.create_site("A", "Site A", 1)?;
        hub_step(s.put_case("c1", "A", "f", b"1", None))?;
        Err(RepoError::UnknownDevice)
    });
    assert_eq!(failed, Err(RepoError::UnknownDevice));
    assert!(!s.in_transaction());
    assert!(s.sites().unwrap().is_empty(), "rolled back");
    assert_eq!(s.case("c1").unwrap(), None, "rolled back");
    // Ok: all of it is committed and its value returned.
    let seq = s
        .atomically(|s| {
            s.create_site("A", "Site A", 1)?;
            hub_step(s.put_case("c1", "A", "f", b"1", None))?;
            hub_step(s.put_case("c2", "A", "f", b"2", None))
        })
        .unwrap();
    assert_eq!(seq, Put::Stored(2));
    assert!(!s.in_transaction());
    assert_eq!(s.sites().unwrap().len(), 1);
    assert_eq!(s.cases_after("A", 0, 10).unwrap().len(), 2);
    // A nested call joins the open transaction: its work goes with the outermost call's.
    let failed: Result<(), RepoError> = s.atomically(|s| {
        s.atomically(|s| s.create_site("B", "Site B", 1))?;
        assert!(s.in_transaction(), "still the outer transaction");
        Err(RepoError::UnknownDevice)
    });
    assert_eq!(failed, Err(RepoError::UnknownDevice));
    assert_eq!(
        s.sites().unwrap().len(),
        1,
        "the inner call's site went too"
    );
    let failed: Result<(), RepoError> = s.atomically(|s| {
        s.create_site("B", "Site B", 1)?;
        s.atomically(|s| s.create_site("A", "again", 1))
    });
    assert_eq!(failed, Err(RepoError::SiteExists));
    assert_eq!(
        s.sites().unwrap().len(),
        1,
        "the inner error undid the outer work"
    );
    s.atomically(|s| {
        s.create_site("B", "Site B", 1)?;
        s.atomically(|s| s.create_site("C", "Site C", 1))
    })
    .unwrap();
    assert_eq!(s.sites().unwrap().len(), 3);
    // On a sync hub: the closure gets the hub, its storage's steps are one transaction.
    let mut hub = wardcrf_core::repository::Hub::new(s);
    let failed: Result<(), RepoError> = hub.atomically(|hub| {
        hub_step(hub.storage.put_case("c3", "A", "f", b"3", None))?;
        hub.storage.record_sync("d1", 5)?;
        Err(RepoError::UnknownDevice)
    });
    assert_eq!(failed, Err(RepoError::UnknownDevice));
    assert_eq!(hub.storage.case("c3").unwrap(), None, "rolled back");
    hub.atomically(|hub| hub_step(hub.storage.put_case("c3", "A", "f", b"3", None)))
        .unwrap();
    assert!(hub.storage.case("c3").unwrap().is_some());
}

storage_test!(
    site_authors_are_the_sites_ward_staff_and_devices_keep_one_unlock_key,
    ward_staff
);
fn ward_staff<S: HubStorage + Repository + WardStaff>(mut s: S)
where
    S::Error: Debug,
{
    s.create_site("A", "Site A", 1).unwrap();
    s.create_site("B", "Site B", 1).unwrap();
    let user = |name: &str, role: &str, site: Option<&str>, disabled: bool| StaffRecord {
        username: name.into(),
        role: role.into(),
        site_id: site.map(str::to_string),
        display_name: String::new(),
        credential_epoch: 0,
        password_hash: "x".into(),
        failed_logins: 0,
        locked_until: None,
        disabled,
        created_at: 1,
    };
    for u in [
        user("sato", "clinician", Some("A"), false),
        user("nina", "site_nurse", Some("A"), false),
        user("gone", "site_nurse", Some("A"), true),
        user("weber", "clinician", Some("B"), false),
        user("ana", "admin", None, false),
        user("dora", "data_manager", None, false),
    ] {
        assert!(s.create_staff(&u).unwrap());
    }
    // Deactivated staff still author their earlier changes; other sites and roles do not.
    let authors = s.site_authors("A").unwrap();
    let ids: Vec<&str> = authors.staff.iter().map(String::as_str).collect();
    assert_eq!(ids, ["gone", "nina", "sato"]);
    // Changes naming no signed-in author are legacy when made before the migration ran.
    let before = authors
        .unattributed_before
        .expect("recorded by migration 006");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - 3600..=now + 5).contains(&before),
        "{before} vs {now}"
    );
    assert_eq!(s.unattributed_before().unwrap(), Some(before));
    assert_eq!(s.site_authors("C").unwrap().staff.len(), 0);
    let staff: Vec<String> = s
        .site_staff("A")
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(staff, ["gone", "nina", "sato"]);
    // A password reset raises the credential epoch.
    assert!(s.set_staff_password("sato", "y").unwrap());
    assert_eq!(s.staff_user("sato").unwrap().unwrap().credential_epoch, 1);

    // A device keeps the key it was enrolled with; a second key given is not taken.
    s.create_enroll_code(b"c1", "A", 100).unwrap();
    s.enroll(b"c1", "d1", b"t1", KEY, 50).unwrap();
    assert_eq!(s.device_key("d1").unwrap().as_deref(), Some(KEY));
    assert_eq!(s.give_device_key("d1", &"f".repeat(64)).unwrap(), KEY);
    assert_eq!(s.device_key("d9"), Err(RepoError::UnknownDevice));
    assert_eq!(s.give_device_key("d9", KEY), Err(RepoError::UnknownDevice));
    // Site settings: the defaults, then what the administrator set.
    assert_eq!(
        s.site_settings("A").unwrap(),
        Some(wardcrf_core::staff::SiteSettings::default())
    );
    let mut settings = wardcrf_core::staff::SiteSettings {
        lock_after_minutes: 9,
        ..Default::default()
    };
    settings.signature_meanings.pop();
    s.set_site_settings("A", &settings).unwrap();
    assert_eq!(s.site_settings("A").unwrap(), Some(settings.clone()));
    assert_eq!(s.site_settings("Z").unwrap(), None);
    assert_eq!(
        s.set_site_settings("Z", &settings),
        Err(RepoError::UnknownSite)
    );
}

/// A projection row of `case_id` made from the document at `seq`.
fn projected(case_id: &str, seq: u64, status: &str) -> wardcrf_server::repository::ProjectionRow {
    wardcrf_server::repository::ProjectionRow {
        case_id: case_id.into(),
        site_id: "A".into(),
        form_id: "icrown-core".into(),
        modules: "[]".into(),
        status: status.into(),
        deleted: false,
        values: "{}".into(),
        conflicts: "[]".into(),
        n_conflicts: 0,
        flags: r#"{"errors":[],"warnings":[]}"#.into(),
        n_flags: 0,
        updated_at: 7,
        projected_seq: seq,
    }
}

storage_test!(
    the_projection_queue_keeps_one_row_per_case_with_its_newest_seq_and_oldest_time,
    queue_rows
);
fn queue_rows<S: HubStorage + Repository>(mut s: S)
where
    S::Error: Debug,
{
    let seq = |put: Put| match put {
        Put::Stored(seq) => seq,
        other => panic!("not stored: {other:?}"),
    };
    let first = seq(s.put_case("c1", "A", "f", b"1", None).unwrap());
    s.enqueue_projection("c1", 100).unwrap();
    let second = seq(s.put_case("c1", "A", "f", b"2", Some(first)).unwrap());
    s.enqueue_projection("c1", 200).unwrap();
    s.put_case("c2", "A", "f", b"3", None).unwrap();
    s.enqueue_projection("c2", 150).unwrap();
    let b = s.projection_backlog(250).unwrap();
    assert_eq!(
        (b.pending, b.oldest_enqueued_at, b.oldest_age_secs, b.failed),
        (2, Some(100), 150, 0)
    );
    let claimed = s.atomically(|s| s.claim_projections(10)).unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|q| (q.case_id.as_str(), q.seq))
            .collect::<Vec<_>>(),
        [("c1", second), ("c2", 3)]
    );
    assert!(first < second);
    // Queuing again what is queued changes nothing; an unknown case queues nothing.
    s.enqueue_projection("c1", 300).unwrap();
    s.enqueue_projection("nope", 300).unwrap();
    assert_eq!(
        s.projection_backlog(300).unwrap().oldest_enqueued_at,
        Some(100)
    );
    assert_eq!(s.projection_backlog(300).unwrap().pending, 2);
    // Several at once, as an exchange queues what it stored: the same rules per case.
    s.put_case("c3", "A", "f", b"4", None).unwrap();
    s.enqueue_projections(&[], 300).unwrap();
    s.enqueue_projections(&["c1", "c3", "nope"], 400).unwrap();
    let b = s.projection_backlog(400).unwrap();
    assert_eq!((b.pending, b.oldest_enqueued_at), (3, Some(100)));
    assert_eq!(s.queued_projection("c3").unwrap().map(|e| e.seq), Some(4));
    assert_eq!(
        s.queued_projection("c1").unwrap().map(|e| e.seq),
        Some(second)
    );
    assert_eq!(s.queued_projection("nope").unwrap(), None);
}

storage_test!(
    a_projection_of_an_older_document_never_replaces_a_newer_one_nor_dequeues_it,
    queue_newer_wins
);
fn queue_newer_wins<S: HubStorage + Repository>(mut s: S)
where
    S::Error: Debug,
{
    let old = put_over(&mut s, "c1", b"1");
    s.enqueue_projection("c1", 10).unwrap();
    // A worker took the case at `old`; a newer push comes while it projects.
    let new = put_over(&mut s, "c1", b"2");
    s.enqueue_projection("c1", 11).unwrap();
    s.complete_projection(&projected("c1", old, "draft"))
        .unwrap();
    assert_eq!(s.projection("c1").unwrap().unwrap().projected_seq, old);
    let waiting = s
        .queued_projection("c1")
        .unwrap()
        .expect("the newer push stays queued");
    assert_eq!(waiting.seq, new);
    assert_eq!(s.projection_backlog(12).unwrap().pending, 1);
    // The newer projection lands; an older one written late changes nothing.
    s.complete_projection(&projected("c1", new, "complete"))
        .unwrap();
    s.complete_projection(&projected("c1", old, "draft"))
        .unwrap();
    let row = s.projection("c1").unwrap().unwrap();
    assert_eq!((row.projected_seq, row.status.as_str()), (new, "complete"));
    assert_eq!(s.queued_projection("c1").unwrap(), None);
    assert_eq!(s.projection_backlog(12).unwrap().pending, 0);
    let listed = s.projections(&Default::default()).unwrap();
    assert_eq!((listed[0].projected_seq, listed[0].stale), (new, false));
}

storage_test!(
    a_case_that_cannot_be_projected_is_left_aside_until_a_newer_document,
    queue_failures
);
fn queue_failures<S: HubStorage + Repository>(mut s: S)
where
    S::Error: Debug,
{
    let seq = put_over(&mut s, "c1", b"1");
    s.enqueue_projection("c1", 10).unwrap();
    s.complete_projection(&projected("c1", seq, "draft"))
        .unwrap();
    let bad = put_over(&mut s, "c1", b"2");
    s.enqueue_projection("c1", 20).unwrap();
    s.fail_projection("c1", bad, "its stored document cannot be read", 21)
        .unwrap();
    let b = s.projection_backlog(30).unwrap();
    assert_eq!((b.pending, b.failed, b.oldest_enqueued_at), (0, 1, None));
    assert!(
        s.atomically(|s| s.claim_projections(10))
            .unwrap()
            .is_empty()
    );
    let failures = s.projection_failures().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (
            failures[0].case_id.as_str(),
            failures[0].site_id.as_str(),
            failures[0].seq
        ),
        ("c1", "A", bad)
    );
    // Listed stale: what is listed is older than the case.
    let listed = s.projections(&Default::default()).unwrap();
    assert_eq!((listed[0].projected_seq, listed[0].stale), (seq, true));
    // Queuing it again at the same document does not retry it; a newer document does.
    s.enqueue_projection("c1", 40).unwrap();
    assert_eq!(s.projection_backlog(40).unwrap().failed, 1);
    let newer = put_over(&mut s, "c1", b"3");
    s.enqueue_projection("c1", 50).unwrap();
    let b = s.projection_backlog(60).unwrap();
    assert_eq!(
        (b.pending, b.failed, b.oldest_enqueued_at),
        (1, 0, Some(50))
    );
    assert_eq!(s.queued_projection("c1").unwrap().unwrap().seq, newer);
    // A backfill queues what lacks a current projection and is not queued.
    put_over(&mut s, "c2", b"4");
    assert_eq!(s.enqueue_unprojected(70).unwrap(), 1);
    assert_eq!(s.enqueue_unprojected(70).unwrap(), 0);
}

/// Stores `doc` as case `id` of site A over whatever version is stored now (the repository's
/// own write, as a console resolution makes it); returns its sequence number.
fn put_over<S: HubStorage>(s: &mut S, id: &str, doc: &[u8]) -> u64
where
    S::Error: Debug,
{
    let read = s.case(id).unwrap().map(|c| c.seq);
    match s.put_case(id, "A", "f", doc, read).unwrap() {
        Put::Stored(seq) => seq,
        other => panic!("not stored: {other:?}"),
    }
}
