//! The store's SQLite schema: its numbered migrations (`migrations/`), applied on
//! `PRAGMA user_version` by the runner in [`crate::migrate`].

use crate::migrate::MigrateError;
use rusqlite::Connection;

/// Numbered migrations; migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_init.sql"),
    include_str!("migrations/002_lookup_by_case.sql"),
    include_str!("migrations/003_sync_heads.sql"),
    include_str!("migrations/004_outbox_index.sql"),
    include_str!("migrations/005_local_parts.sql"),
    include_str!("migrations/006_staff_keys.sql"),
    include_str!("migrations/007_case_list.sql"),
];

/// The schema version this code writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "the store was written by a newer WardCRF (schema {found}, this version knows {known}); update the app"
    )]
    TooNew { found: u32, known: u32 },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Applies every migration the database lacks, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<u32, SchemaError> {
    crate::migrate::migrate_sqlite(conn, MIGRATIONS).map_err(|e| match e {
        MigrateError::TooNew { found, known } => SchemaError::TooNew { found, known },
        MigrateError::Sqlite(e) => SchemaError::Sqlite(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn migrates_a_fresh_database_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        let first = schema(&conn);
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION, "idempotent");
        assert_eq!(schema(&conn), first);
        assert!(first.iter().any(|s| s.contains("CREATE TABLE cases")));
    }

    #[test]
    fn every_older_version_upgrades_to_the_fresh_schema() {
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        for version in 1..SCHEMA_VERSION as usize {
            let mut old = Connection::open_in_memory().unwrap();
            for (i, sql) in MIGRATIONS.iter().take(version).enumerate() {
                old.execute_batch(sql).unwrap();
                old.pragma_update(None, "user_version", (i + 1) as u32)
                    .unwrap();
            }
            assert_eq!(migrate(&mut old).unwrap(), SCHEMA_VERSION);
            assert_eq!(
                schema(&old),
                schema(&fresh),
                "upgrade from version {version}"
            );
        }
    }

    #[test]
    fn the_lookup_delete_of_a_save_uses_an_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN DELETE FROM lookup WHERE case_id = 'x'",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("USING") && plan.contains("INDEX"), "{plan}");
    }

    #[test]
    fn refuses_a_database_from_a_newer_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(SchemaError::TooNew { .. })
        ));
    }
}
