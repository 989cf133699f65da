//! Every SQL statement of the device store, each behind a function with typed rows.
//!
//! The tables (see `migrations/`): `meta` (key → bytes: the wrapped key, the canary, the
//! device actor, sync state), `cases` (the sealed document of each case with its plaintext
//! listing columns and the heads this device and the repository hold), `lookup` (keyed hashes
//! of identifying values, for search) and `local_parts` (the sealed device-only part of a
//! case). Nothing here decrypts or interprets a document.

use super::{CaseFilter, CaseSummary, Status};
use rusqlite::{Connection, OptionalExtension, Result, params};
use std::path::Path;

/// The write-ahead log size (in pages; 16 MiB at SQLite's 4 KiB pages, some 300 field
/// saves of a full case) past which a commit checkpoints by itself. SQLite's default, 1000
/// pages, checkpointed inside about one save in 74; with this limit, a store whose app
/// checkpoints at idle ([`super::CaseStore::checkpoint`]) never reaches it, and one whose app
/// does not still keeps a bounded log.
pub(super) const WAL_LIMIT_PAGES: u32 = 4096;

/// Opens the database file with the store's settings (WAL, durable writes, foreign keys,
/// checkpoints off the save path).
pub(super) fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_LIMIT_PAGES)?;
    // A sync answer writes each case with the same few statements: parsed once.
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// A passive checkpoint of the write-ahead log; returns the pages copied into the database.
pub(super) fn checkpoint(conn: &Connection) -> Result<u32> {
    // (busy, pages in the log, pages checkpointed); -1, -1 when not in WAL mode.
    let (_busy, _log, copied): (i64, i64, i64) = conn
        .prepare_cached("PRAGMA wal_checkpoint(PASSIVE)")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(u32::try_from(copied).unwrap_or(0))
}

/// Whether an error means the file is not a (sound) SQLite database.
pub(super) fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// SQLite's quick integrity check: `"ok"`, or what is wrong.
pub(super) fn quick_check(conn: &Connection) -> Result<String> {
    conn.prepare_cached("PRAGMA quick_check")?
        .query_row([], |r| r.get(0))
}

/// The schema version the database is at.
pub(super) fn schema_version(conn: &Connection) -> Result<u32> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// A `meta` entry.
pub(super) fn meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

/// Writes a `meta` entry, replacing any earlier value.
pub(super) fn put_meta(conn: &Connection, key: &str, value: &[u8]) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// Writes the first `meta` entries of a new store, in one transaction.
pub(super) fn init_meta(conn: &mut Connection, entries: &[(&str, Vec<u8>)]) -> Result<()> {
    let tx = conn.transaction()?;
    for (k, v) in entries {
        tx.prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2)")?
            .execute(params![k, v])?;
    }
    tx.commit()
}

/// Writes and deletes `meta` entries in one transaction (`None` deletes).
pub(super) fn put_metas(conn: &mut Connection, entries: &[(&str, Option<&[u8]>)]) -> Result<()> {
    let tx = conn.transaction()?;
    for (key, value) in entries {
        match value {
            Some(v) => tx
                .prepare_cached(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![key, v])?,
            None => tx
                .prepare_cached("DELETE FROM meta WHERE key = ?1")?
                .execute([key])?,
        };
    }
    tx.commit()
}

/// A staff member's wrapped data key on this device.
#[derive(Debug, Clone)]
pub(super) struct StaffKeyRow {
    pub staff_id: String,
    pub display_name: String,
    pub role: String,
    pub credential_epoch: i64,
    pub password_params: Vec<u8>,
    pub password_wrap: Vec<u8>,
    pub needs_online: bool,
    pub pin_params: Option<Vec<u8>>,
    pub pin_wrap: Option<Vec<u8>>,
}

pub(super) fn staff_key(conn: &Connection, staff_id: &str) -> Result<Option<StaffKeyRow>> {
    conn.prepare_cached(
        "SELECT staff_id, display_name, role, credential_epoch, password_params, password_wrap,
                needs_online, pin_params, pin_wrap
         FROM staff_keys WHERE staff_id = ?1",
    )?
    .query_row([staff_id], |r| {
        Ok(StaffKeyRow {
            staff_id: r.get(0)?,
            display_name: r.get(1)?,
            role: r.get(2)?,
            credential_epoch: r.get(3)?,
            password_params: r.get(4)?,
            password_wrap: r.get(5)?,
            needs_online: r.get::<_, i64>(6)? != 0,
            pin_params: r.get(7)?,
            pin_wrap: r.get(8)?,
        })
    })
    .optional()
}

/// The ids of the staff members who signed in on this device.
pub(super) fn staff_ids(conn: &Connection) -> Result<Vec<String>> {
    ids(
        conn,
        "SELECT staff_id FROM staff_keys ORDER BY staff_id",
        [],
    )
}

/// Keeps a staff member's new password wrap (after an online sign-in), dropping any PIN, and
/// closes the open door (the data key wrapped by the device secret alone), in one transaction.
pub(super) fn put_staff_key(
    conn: &mut Connection,
    row: &StaffKeyRow,
    now: i64,
    device_wrap: Option<&[u8]>,
) -> Result<()> {
    let tx = conn.transaction()?;
    tx.prepare_cached(
        "INSERT INTO staff_keys (staff_id, display_name, role, credential_epoch, password_params,
                                 password_wrap, signed_in_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (staff_id) DO UPDATE SET
            display_name = excluded.display_name, role = excluded.role,
            credential_epoch = excluded.credential_epoch,
            password_params = excluded.password_params, password_wrap = excluded.password_wrap,
            password_failures = 0, needs_online = 0, pin_params = NULL, pin_wrap = NULL,
            pin_failures = 0, signed_in_at = excluded.signed_in_at",
    )?
    .execute(params![
        row.staff_id,
        row.display_name,
        row.role,
        row.credential_epoch,
        row.password_params,
        row.password_wrap,
        now
    ])?;
    if let Some(w) = device_wrap {
        tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES ('device_wrap', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?
        .execute([w])?;
    }
    tx.prepare_cached("DELETE FROM meta WHERE key = 'open_door'")?
        .execute([])?;
    tx.commit()
}

/// Records a wrong password: one more failure, and at `limit` only an online sign-in works.
pub(super) fn password_failed(conn: &Connection, staff_id: &str, limit: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE staff_keys SET password_failures = password_failures + 1,
                needs_online = CASE WHEN password_failures + 1 >= ?2 THEN 1 ELSE needs_online END
         WHERE staff_id = ?1",
    )?
    .execute(params![staff_id, limit])?;
    Ok(())
}

/// Records a good password: failures forgotten.
pub(super) fn password_ok(conn: &Connection, staff_id: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE staff_keys SET password_failures = 0 WHERE staff_id = ?1 AND password_failures > 0",
    )?
    .execute([staff_id])?;
    Ok(())
}

/// Keeps (or, with `None`, removes) a staff member's PIN wrap.
pub(super) fn set_pin(
    conn: &Connection,
    staff_id: &str,
    pin: Option<(&[u8], &[u8])>,
) -> Result<()> {
    conn.prepare_cached("UPDATE staff_keys SET pin_params = ?2, pin_wrap = ?3, pin_failures = 0 WHERE staff_id = ?1")?.execute(params![staff_id, pin.map(|p| p.0), pin.map(|p| p.1)],
    )?;
    Ok(())
}

/// Records a wrong PIN; at `limit` the PIN is removed. Returns whether it was.
pub(super) fn pin_failed(conn: &Connection, staff_id: &str, limit: i64) -> Result<bool> {
    conn.prepare_cached(
        "UPDATE staff_keys SET pin_failures = pin_failures + 1 WHERE staff_id = ?1",
    )?
    .execute([staff_id])?;
    let removed = conn
        .prepare_cached(
            "UPDATE staff_keys SET pin_params = NULL, pin_wrap = NULL, pin_failures = 0
         WHERE staff_id = ?1 AND pin_failures >= ?2",
        )?
        .execute(params![staff_id, limit])?;
    Ok(removed > 0)
}

/// Records a good PIN.
pub(super) fn pin_ok(conn: &Connection, staff_id: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE staff_keys SET pin_failures = 0 WHERE staff_id = ?1 AND pin_failures > 0",
    )?
    .execute([staff_id])?;
    Ok(())
}

/// Forgets the wraps of staff members who may no longer sign in here.
pub(super) fn remove_staff_keys(conn: &mut Connection, staff_ids: &[String]) -> Result<()> {
    let tx = conn.transaction()?;
    for id in staff_ids {
        tx.prepare_cached("DELETE FROM staff_keys WHERE staff_id = ?1")?
            .execute([id])?;
    }
    tx.commit()
}

/// A case's sealed document and its deletion flag.
pub(super) struct SealedCase {
    pub doc: Vec<u8>,
    pub deleted: bool,
}

pub(super) fn sealed_case(conn: &Connection, case_id: &str) -> Result<Option<SealedCase>> {
    conn.prepare_cached("SELECT doc, deleted FROM cases WHERE case_id = ?1")?
        .query_row([case_id], |r| {
            Ok(SealedCase {
                doc: r.get(0)?,
                deleted: r.get::<_, i64>(1)? != 0,
            })
        })
        .optional()
}

/// A case as written: its sealed document, listing columns, heads and look-up tokens.
pub(super) struct CaseRow<'a> {
    pub case_id: &'a str,
    pub form_id: &'a str,
    pub form_version: &'a str,
    pub status: Status,
    /// Open conflicts.
    pub conflicts: usize,
    pub deleted: bool,
    pub doc: &'a [u8],
    /// The sealed display label.
    pub label: &'a [u8],
    pub local_heads: &'a [u8],
    /// The heads the repository holds, when known anew (after a sync).
    pub server_heads: Option<&'a [u8]>,
    /// `(kind, token)` of each indexed identifying value.
    pub lookup: &'a [(&'a str, Vec<u8>)],
}

/// Inserts (`insert`) or updates a case row with its look-up tokens, at `time`, in a savepoint
/// (its own transaction, or part of an enclosing one).
pub(super) fn write_case(
    conn: &mut Connection,
    row: &CaseRow<'_>,
    insert: bool,
    time: i64,
) -> Result<()> {
    let status = row.status.as_str();
    let has_conflicts = i64::from(row.conflicts > 0);
    let conflicts = i64::try_from(row.conflicts).unwrap_or(i64::MAX);
    let deleted = i64::from(row.deleted);
    let tx = conn.savepoint()?;
    if insert {
        tx.prepare_cached("INSERT INTO cases (case_id, form_id, form_version, status, has_conflicts, deleted, created_at, updated_at, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)")?.execute(params![row.case_id, row.form_id, row.form_version, status, has_conflicts, deleted, time, row.doc],
        )?;
    } else {
        tx.prepare_cached("UPDATE cases SET status = ?2, has_conflicts = ?3, deleted = ?4, updated_at = ?5, doc = ?6 WHERE case_id = ?1")?.execute(params![row.case_id, status, has_conflicts, deleted, time, row.doc],
        )?;
    }
    tx.prepare_cached(
        "UPDATE cases SET local_heads = ?2, label = ?3, conflicts = ?4 WHERE case_id = ?1",
    )?
    .execute(params![row.case_id, row.local_heads, row.label, conflicts])?;
    if let Some(heads) = row.server_heads {
        tx.prepare_cached("UPDATE cases SET server_heads = ?2 WHERE case_id = ?1")?
            .execute(params![row.case_id, heads])?;
    }
    tx.prepare_cached("DELETE FROM lookup WHERE case_id = ?1")?
        .execute([row.case_id])?;
    for (kind, token) in row.lookup {
        tx.prepare_cached("INSERT INTO lookup (kind, token, case_id) VALUES (?1, ?2, ?3)")?
            .execute(params![kind, token, row.case_id])?;
    }
    tx.commit()
}

/// A case of the list as stored: its summary (label still empty) and sealed label (`None`:
/// written before labels were kept, until the backfill).
pub(super) struct ListRow {
    pub summary: CaseSummary,
    pub sealed_label: Option<Vec<u8>>,
}

/// Cases from the listing columns, newest first; never a document.
pub(super) fn list(conn: &Connection, filter: &CaseFilter) -> Result<Vec<ListRow>> {
    let mut stmt = conn.prepare(
        "SELECT case_id, form_id, form_version, status, has_conflicts, deleted, created_at, updated_at,
                conflicts, server_heads = x'' OR local_heads != server_heads, label
         FROM cases
         WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR form_id = ?2) AND (?3 IS NULL OR updated_at >= ?3)
           AND (?4 = 0 OR has_conflicts = 1) AND (?5 = 1 OR deleted = 0)
         ORDER BY updated_at DESC, case_id",
    )?;
    let rows = stmt.query_map(
        params![
            filter.status.map(Status::as_str),
            filter.form_id,
            filter.updated_since,
            i64::from(filter.with_conflicts),
            i64::from(filter.include_deleted)
        ],
        |r| {
            Ok(ListRow {
                summary: CaseSummary {
                    case_id: r.get(0)?,
                    form_id: r.get(1)?,
                    form_version: r.get(2)?,
                    label: String::new(),
                    status: Status::parse(&r.get::<_, String>(3)?),
                    has_conflicts: r.get::<_, i64>(4)? != 0,
                    deleted: r.get::<_, i64>(5)? != 0,
                    created_at: r.get(6)?,
                    updated_at: r.get(7)?,
                    conflicts: u32::try_from(r.get::<_, i64>(8)?).unwrap_or(u32::MAX),
                    pending_sync: r.get::<_, i64>(9)? != 0,
                },
                sealed_label: r.get(10)?,
            })
        },
    )?;
    rows.collect()
}

/// Cases written before labels were kept (through the partial index of migration 007).
pub(super) fn unlabelled_case_ids(conn: &Connection) -> Result<Vec<String>> {
    ids(
        conn,
        "SELECT case_id FROM cases WHERE label IS NULL ORDER BY case_id",
        [],
    )
}

/// Keeps the sealed label and conflict count the backfill made for a case.
pub(super) fn put_label(
    conn: &Connection,
    case_id: &str,
    label: &[u8],
    conflicts: usize,
) -> Result<()> {
    conn.prepare_cached("UPDATE cases SET label = ?2, conflicts = ?3 WHERE case_id = ?1")?
        .execute(params![
            case_id,
            label,
            i64::try_from(conflicts).unwrap_or(i64::MAX)
        ])?;
    Ok(())
}

/// How many cases the repository does not hold as they are here (the outbox's size, through
/// its partial index).
pub(super) fn pending_sync_count(conn: &Connection) -> Result<u64> {
    conn.prepare_cached(
        "SELECT count(*) FROM cases WHERE server_heads = x'' OR local_heads != server_heads",
    )?
    .query_row([], |r| r.get::<_, i64>(0))
    .map(|n| u64::try_from(n).unwrap_or(0))
}

fn ids(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let ids = stmt.query_map(args, |r| r.get(0))?;
    ids.collect()
}

/// Cases whose look-up token of `kind` is `token`.
pub(super) fn find(conn: &Connection, kind: &str, token: &[u8]) -> Result<Vec<String>> {
    ids(
        conn,
        "SELECT case_id FROM lookup WHERE kind = ?1 AND token = ?2 ORDER BY case_id",
        params![kind, token],
    )
}

/// Every case id, in order.
pub(super) fn case_ids(conn: &Connection) -> Result<Vec<String>> {
    ids(conn, "SELECT case_id FROM cases ORDER BY case_id", [])
}

/// Cases flagged with conflicts and not deleted, newest first (through the partial index of
/// migration 004: costs the conflicted cases only).
pub(super) fn conflicted_case_ids(conn: &Connection) -> Result<Vec<String>> {
    ids(
        conn,
        "SELECT case_id FROM cases WHERE has_conflicts = 1 AND deleted = 0
         ORDER BY updated_at DESC, case_id",
        [],
    )
}

pub(super) fn case_exists(conn: &Connection, case_id: &str) -> Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM cases WHERE case_id = ?1)")?
        .query_row([case_id], |r| r.get(0))
}

/// The sealed device-only part of a case.
pub(super) fn local_part(conn: &Connection, case_id: &str) -> Result<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT doc FROM local_parts WHERE case_id = ?1")?
        .query_row([case_id], |r| r.get(0))
        .optional()
}

pub(super) fn put_local_part(conn: &Connection, case_id: &str, sealed: &[u8]) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO local_parts (case_id, doc) VALUES (?1, ?2)
         ON CONFLICT (case_id) DO UPDATE SET doc = excluded.doc",
    )?
    .execute(params![case_id, sealed])?;
    Ok(())
}

/// Cases the repository does not hold as they are here, oldest change first.
pub(super) fn outbox(conn: &Connection) -> Result<Vec<String>> {
    ids(
        conn,
        "SELECT case_id FROM cases WHERE server_heads = x'' OR local_heads != server_heads ORDER BY updated_at, case_id",
        [],
    )
}

/// What a push of one case needs from its row.
pub(super) struct PushRow {
    /// Heads the repository holds (empty: never synced).
    pub server_heads: Vec<u8>,
    pub local_heads: Vec<u8>,
    pub form_id: String,
    /// The sealed document.
    pub doc: Vec<u8>,
}

pub(super) fn push_row(conn: &Connection, case_id: &str) -> Result<Option<PushRow>> {
    conn.prepare_cached(
        "SELECT server_heads, local_heads, form_id, doc FROM cases WHERE case_id = ?1",
    )?
    .query_row([case_id], |r| {
        Ok(PushRow {
            server_heads: r.get(0)?,
            local_heads: r.get(1)?,
            form_id: r.get(2)?,
            doc: r.get(3)?,
        })
    })
    .optional()
}

/// The heads this device holds of a case (`None`: no such case).
pub(super) fn local_heads(conn: &Connection, case_id: &str) -> Result<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT local_heads FROM cases WHERE case_id = ?1")?
        .query_row([case_id], |r| r.get(0))
        .optional()
}

/// Records the heads the repository holds of a case; returns the rows changed (0 or 1).
pub(super) fn set_server_heads(conn: &Connection, case_id: &str, heads: &[u8]) -> Result<usize> {
    conn.prepare_cached("UPDATE cases SET server_heads = ?2 WHERE case_id = ?1")?
        .execute(params![case_id, heads])
}

/// Forgets the heads the repository was believed to hold of every case (it was restored from
/// a backup): every case is in the outbox again. Returns how many cases there are.
pub(super) fn forget_all_server_heads(conn: &Connection) -> Result<usize> {
    conn.prepare_cached("UPDATE cases SET server_heads = x''")?
        .execute([])
}

/// Starts a write transaction (a whole sync answer).
pub(super) fn begin(conn: &Connection) -> Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")
}

pub(super) fn commit(conn: &Connection) -> Result<()> {
    conn.execute_batch("COMMIT")
}

/// Ends the open transaction without its changes (best effort: there may be none open).
pub(super) fn rollback(conn: &Connection) {
    let _ = conn.execute_batch("ROLLBACK");
}

/// Opens the named savepoint.
pub(super) fn savepoint(conn: &Connection, name: &str) -> Result<()> {
    conn.execute_batch(&format!("SAVEPOINT {name}"))
}

/// Keeps what was written since the named savepoint.
pub(super) fn release(conn: &Connection, name: &str) -> Result<()> {
    conn.execute_batch(&format!("RELEASE {name}"))
}

/// Undoes what was written since the named savepoint (best effort).
pub(super) fn rollback_to(conn: &Connection, name: &str) {
    let _ = conn.execute_batch(&format!("ROLLBACK TO {name}; RELEASE {name}"));
}
