//! Tests of the case list (sealed labels, conflicts, "not yet synced", the one-time backfill
//! of labels, never a case document opened) and of the store's WAL checkpoints.

use super::*;
use serde_json::json;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let n = encryption::random_bytes::<6>().unwrap();
        let dir = std::env::temp_dir().join(format!(
            "wardcrf-list-{name}-{}",
            n.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const PASS: &str = "ward 7 tablet";

fn pass() -> Passphrase {
    Passphrase::insecure_for_tests(PASS, 1000)
}

fn store(dir: &TempDir) -> CaseStore {
    let mut s = CaseStore::create(&dir.0, &pass()).unwrap();
    s.sign_in_for_tests("nurse").unwrap();
    s
}

fn reopen(dir: &TempDir) -> CaseStore {
    let mut s = CaseStore::open(&dir.0, &pass()).unwrap();
    s.sign_in_for_tests("nurse").unwrap();
    s
}

fn f(id: &str) -> FieldPath {
    FieldPath::field(id)
}

fn summary(s: &CaseStore, case: &str) -> CaseSummary {
    s.list(&CaseFilter {
        include_deleted: true,
        ..CaseFilter::default()
    })
    .unwrap()
    .into_iter()
    .find(|c| c.case_id == case)
    .unwrap()
}

/// `n` icrown-core cases: one entered field by field, the others imported copies of it, each
/// then given its own study case id.
fn many_cases(s: &mut CaseStore, n: usize) -> Vec<String> {
    let first = s.create_case("icrown-core", &[]).unwrap();
    s.set_value(&first, &f("hospital_record_number"), json!("MRN-1"), None)
        .unwrap();
    s.set_value(&first, &f("admission_date"), json!("2024-03-01"), None)
        .unwrap();
    let template = s.export_cases().unwrap().remove(0).bytes;
    let copies: Vec<CaseExport> = (1..n)
        .map(|_| CaseExport {
            case_id: new_id().unwrap(),
            bytes: template.clone(),
        })
        .collect();
    s.import_cases(&copies).unwrap();
    let ids: Vec<String> = std::iter::once(first)
        .chain(copies.into_iter().map(|c| c.case_id))
        .collect();
    for (i, id) in ids.iter().enumerate().step_by(25) {
        s.set_value(id, &f("case_id"), json!(format!("ICR-{i:04}")), None)
            .unwrap();
    }
    ids
}

#[test]
fn listing_many_cases_opens_no_case_document() {
    let dir = TempDir::new("many");
    let mut s = store(&dir);
    let ids = many_cases(&mut s, 300);
    drop(s);
    let mut s = reopen(&dir);
    assert_eq!(s.documents_opened(), 0);
    let list = s.list(&CaseFilter::default()).unwrap();
    assert_eq!(list.len(), 300);
    assert_eq!(s.documents_opened(), 0, "the list opened a case document");
    for (i, id) in ids.iter().enumerate() {
        let c = list.iter().find(|c| &c.case_id == id).unwrap();
        let want = if i % 25 == 0 {
            format!("ICR-{i:04} · MRN-1 · 2024-03-01")
        } else {
            "MRN-1 · 2024-03-01".to_string()
        };
        assert_eq!(c.label, want);
        assert!(c.pending_sync, "never synced");
        assert_eq!((c.has_conflicts, c.conflicts), (false, 0));
    }
    assert_eq!(s.pending_sync_count().unwrap(), 300);
    assert_eq!(s.documents_opened(), 0);
    // What does open a document is counted.
    s.case(&ids[0]).unwrap();
    assert_eq!(s.documents_opened(), 1);
}

#[test]
fn the_label_follows_every_write_of_the_case() {
    let dir = TempDir::new("label");
    let mut s = store(&dir);
    let case = s.create_case("icrown-core", &[]).unwrap();
    assert_eq!(summary(&s, &case).label, "", "nothing answered yet");
    s.set_value(&case, &f("admission_date"), json!("2024-03"), None)
        .unwrap_err(); // not a partial-date field: refused, the label unchanged
    assert_eq!(summary(&s, &case).label, "");
    s.set_value(&case, &f("admission_date"), json!("2024-03-02"), None)
        .unwrap();
    s.set_value(&case, &f("case_id"), json!("  ICR-0042 "), None)
        .unwrap();
    assert_eq!(summary(&s, &case).label, "ICR-0042 · 2024-03-02");
    s.set_value(&case, &f("hospital_record_number"), json!("K-77"), None)
        .unwrap();
    assert_eq!(summary(&s, &case).label, "ICR-0042 · K-77 · 2024-03-02");
    s.set_value(
        &case,
        &f("case_id"),
        Json::Null,
        Some("entered on the wrong case"),
    )
    .unwrap();
    assert_eq!(summary(&s, &case).label, "K-77 · 2024-03-02");
    // Other fields do not make the label.
    s.set_value(&case, &f("vs_hr"), json!(88), None).unwrap();
    assert_eq!(summary(&s, &case).label, "K-77 · 2024-03-02");
    // A deleted case keeps its label.
    s.delete_case(&case, "duplicate").unwrap();
    assert_eq!(summary(&s, &case).label, "K-77 · 2024-03-02");
    // The label is sealed: its blob is bound to its case and is not the plaintext.
    let sealed: Vec<u8> = s
        .conn
        .query_row("SELECT label FROM cases WHERE case_id = ?1", [&case], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(!sealed.windows(4).any(|w| w == b"K-77"));
    let key = s.key().unwrap();
    assert_eq!(
        &key.open(&CaseStore::label_aad(&case), &sealed).unwrap()[..],
        "K-77 · 2024-03-02".as_bytes()
    );
    assert!(key.open(&CaseStore::aad(&case), &sealed).is_err());
    assert!(key.open(&CaseStore::label_aad("other"), &sealed).is_err());
}

#[test]
fn the_label_reads_identifying_fields_from_the_device_only_part() {
    let dir = TempDir::new("label-local");
    let mut s = store(&dir);
    s.enrolled(
        "https://repo.example",
        &crate::sync::Enrolment {
            device_id: "d".into(),
            site_id: "site-a".into(),
            token: "t0ken".into(),
            identifying_on_device: true,
            device_key: None,
        },
    )
    .unwrap();
    let case = s.create_case("icrown-core", &[]).unwrap();
    s.set_value(&case, &f("hospital_record_number"), json!("K-5531"), None)
        .unwrap();
    s.set_value(&case, &f("case_id"), json!("ICR-7"), None)
        .unwrap();
    assert_eq!(summary(&s, &case).label, "ICR-7 · K-5531");
    let (doc, _) = s.load(&case).unwrap();
    assert!(
        doc.value(&f("hospital_record_number")).is_none(),
        "the record number stays in the device-only part"
    );
}

#[test]
fn not_yet_synced_and_conflicts_are_listed() {
    let (da, db) = (TempDir::new("sync-a"), TempDir::new("sync-b"));
    let (mut a, mut b) = (store(&da), store(&db));
    let case = a.create_case("icrown-core", &[]).unwrap();
    a.set_value(&case, &f("vs_hr"), json!(80), None).unwrap();
    assert_eq!(a.pending_sync_count().unwrap(), 1);

    // The repository's answer holding exactly this device's heads: synced.
    let push = a.sync_push(&case).unwrap();
    a.sync_apply(&crate::sync::CaseChanges {
        changes: Vec::new(),
        ..push
    })
    .unwrap();
    assert!(!summary(&a, &case).pending_sync);
    assert_eq!(a.pending_sync_count().unwrap(), 0);
    a.set_value(&case, &f("vs_rr"), json!(18), None).unwrap();
    assert!(summary(&a, &case).pending_sync, "changed since the sync");
    assert_eq!(a.pending_sync_count().unwrap(), 1);

    // Concurrent edits of two fields on two devices: two open conflicts.
    b.merge_from(&a).unwrap();
    for (s, hr, rr) in [(&mut a, 81, 19), (&mut b, 82, 20)] {
        s.set_value(&case, &f("vs_hr"), json!(hr), Some("re-measured"))
            .unwrap();
        s.set_value(&case, &f("vs_rr"), json!(rr), Some("re-measured"))
            .unwrap();
    }
    a.merge_from(&b).unwrap();
    let listed = summary(&a, &case);
    assert_eq!((listed.has_conflicts, listed.conflicts), (true, 2));
    a.resolve(&case, &f("vs_hr"), json!(81), "checked the monitor")
        .unwrap();
    let listed = summary(&a, &case);
    assert_eq!((listed.has_conflicts, listed.conflicts), (true, 1));
}

#[test]
fn cases_written_before_labels_are_labelled_once() {
    let dir = TempDir::new("backfill");
    let mut s = store(&dir);
    let ids = many_cases(&mut s, 30);
    let (db_a, db_b) = (TempDir::new("backfill-a"), TempDir::new("backfill-b"));
    // One case with a conflict, for the count the backfill also takes.
    let (mut a, mut b) = (store(&db_a), store(&db_b));
    let conflicted = a.create_case("icrown-core", &[]).unwrap();
    b.merge_from(&a).unwrap();
    a.set_value(&conflicted, &f("vs_hr"), json!(80), None)
        .unwrap();
    b.set_value(&conflicted, &f("vs_hr"), json!(90), None)
        .unwrap();
    a.merge_from(&b).unwrap();
    s.merge_from(&a).unwrap();
    // As a store written before migration 007 left them.
    s.conn
        .execute_batch("UPDATE cases SET label = NULL, conflicts = has_conflicts")
        .unwrap();
    drop(s);
    let s = reopen(&dir);
    let list = s.list(&CaseFilter::default()).unwrap();
    assert_eq!(list.len(), 31);
    assert_eq!(s.documents_opened(), 31, "each document opened once");
    assert_eq!(
        list.iter().find(|c| c.case_id == ids[25]).unwrap().label,
        "ICR-0025 · MRN-1 · 2024-03-01"
    );
    assert_eq!(
        list.iter()
            .find(|c| c.case_id == conflicted)
            .unwrap()
            .conflicts,
        1
    );
    assert!(db::unlabelled_case_ids(&s.conn).unwrap().is_empty());
    assert_eq!(s.list(&CaseFilter::default()).unwrap(), list);
    drop(s);
    let s = reopen(&dir);
    assert_eq!(s.list(&CaseFilter::default()).unwrap(), list);
    assert_eq!(s.documents_opened(), 0, "done once, and recorded");
}

#[test]
fn a_locked_store_lists_nothing() {
    let dir = TempDir::new("locked");
    let s = store(&dir);
    drop(s);
    let s = CaseStore::open(&dir.0, &pass()).unwrap();
    assert!(!s.is_unlocked());
    assert!(matches!(
        s.list(&CaseFilter::default()),
        Err(StoreError::Locked)
    ));
    assert!(matches!(s.pending_sync_count(), Err(StoreError::Locked)));
}

/// The checkpoint sequence number in the WAL header: SQLite bumps it when a write restarts
/// the log after a checkpoint.
fn wal_checkpoints(dir: &TempDir) -> u32 {
    let wal = std::fs::read(dir.0.join(format!("{DB_FILE}-wal"))).unwrap();
    u32::from_be_bytes(wal[12..16].try_into().unwrap())
}

/// Pages of log the WAL file holds room for (it grows only when the log outgrows it).
fn wal_pages(dir: &TempDir) -> u64 {
    let len = std::fs::metadata(dir.0.join(format!("{DB_FILE}-wal")))
        .unwrap()
        .len();
    len.saturating_sub(32) / (4096 + 24)
}

#[test]
fn saves_do_not_checkpoint_and_an_explicit_checkpoint_drains_the_log() {
    let dir = TempDir::new("checkpoint");
    let mut s = store(&dir);
    let limit: u32 = s
        .conn
        .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
        .unwrap();
    assert_eq!(limit, db::WAL_LIMIT_PAGES);
    let synchronous: i64 = s
        .conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(synchronous, 2, "durable writes: synchronous=FULL");
    let case = s.create_case("icrown-core", &[]).unwrap();
    s.checkpoint().unwrap();
    s.set_value(&case, &f("vs_hr"), json!(60), None).unwrap();
    let epoch = wal_checkpoints(&dir);
    assert!(wal_pages(&dir) < 200);
    // Save until the log is past SQLite's default limit of 1000 pages, at which a save would
    // checkpoint by itself: none does.
    let mut saves = 0;
    while wal_pages(&dir) <= 1100 {
        let (field, value) = if saves % 2 == 0 {
            ("vs_rr", 12 + saves % 20)
        } else {
            ("vs_hr", 60 + saves % 40)
        };
        let reason = (saves > 0).then_some("re-measured");
        s.set_value(&case, &f(field), json!(value), reason).unwrap();
        saves += 1;
        assert!(saves < 3000, "the log does not grow");
    }
    assert_eq!(wal_checkpoints(&dir), epoch, "a save checkpointed");
    // The explicit checkpoint copies the log into the database; the next save restarts it.
    assert!(s.checkpoint().unwrap() > 1000);
    s.set_value(&case, &f("vs_sbp"), json!(120), None).unwrap();
    assert_ne!(wal_checkpoints(&dir), epoch);
}
