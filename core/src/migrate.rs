//! Numbered schema migrations: one runner for every SQLite database of WardCRF (the device
//! store and the repository server's SQLite backend), and the decision of which migrations a
//! database still lacks, which the server's PostgreSQL backend shares.
//!
//! A schema is a list of SQL scripts; script `i` takes the schema from version `i` to `i + 1`,
//! so the version of an up-to-date database is the length of the list. SQLite databases keep
//! their version in `PRAGMA user_version`. A database of a newer version than the list knows
//! is refused, never touched.

use rusqlite::Connection;

/// Why a schema could not be brought up to date. Each caller turns it into its own error
/// (with its own words for a database that is too new).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database was written by a newer version, with more migrations than `known`.
    #[error("the database has schema {found}, newer than the {known} this version knows")]
    TooNew { found: u32, known: u32 },
    /// SQLite failed reading the version or applying a migration; that migration is undone.
    #[error("the SQLite database could not be migrated")]
    Sqlite(#[from] rusqlite::Error),
}

/// The migrations a database at version `found` lacks, in order, each with the version it
/// leads to; refuses a database newer than `migrations` knows.
pub fn due<'a>(
    found: u32,
    migrations: &'a [&'a str],
) -> Result<impl Iterator<Item = (u32, &'a str)> + 'a, MigrateError> {
    let known = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
    if found > known {
        return Err(MigrateError::TooNew { found, known });
    }
    Ok((found..known)
        .zip(migrations.iter().skip(found as usize))
        .map(|(i, sql)| (i + 1, *sql)))
}

/// The oldest schema version whose code still works on a database at `version`.
///
/// A database shared by several servers (PostgreSQL) is migrated by the first server of a new
/// version to start, while servers of the version before may still be running (a rolling
/// upgrade). A migration listed in `additive` (by the version it leads to) only adds what older
/// code ignores (a table, a nullable column, an index): the code of the version before it keeps
/// working. Any other migration breaks older code: it stops at its own version.
pub fn oldest_compatible(version: u32, additive: &[u32]) -> u32 {
    let mut oldest = version;
    while oldest > 0 && additive.contains(&oldest) {
        oldest -= 1;
    }
    oldest
}

/// Whether code that knows schema `known` may run on a database at schema `found` whose
/// recorded oldest compatible version is `compatible_from` (`None`: not recorded). An older or
/// equal database is migrated as usual; a newer one only when its migrations since `known`
/// were all additive ([`oldest_compatible`]), else it is refused ([`MigrateError::TooNew`]).
pub fn may_run(found: u32, known: u32, compatible_from: Option<u32>) -> Result<(), MigrateError> {
    match compatible_from {
        _ if found <= known => Ok(()),
        Some(oldest) if oldest <= known => Ok(()),
        _ => Err(MigrateError::TooNew { found, known }),
    }
}

/// Applies to the SQLite database `conn` every migration of `migrations` it lacks, each in
/// its own transaction with its new `user_version`; returns the version it is at now.
pub fn migrate_sqlite(conn: &mut Connection, migrations: &[&str]) -> Result<u32, MigrateError> {
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let mut version = found;
    for (next, sql) in due(found, migrations)? {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", next)?;
        tx.commit()?;
        version = next;
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATIONS: &[&str] = &[
        "CREATE TABLE a (x INTEGER);",
        "CREATE TABLE b (y INTEGER);",
        "ALTER TABLE a ADD COLUMN z TEXT;",
    ];

    fn version(conn: &Connection) -> u32 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn due_lists_what_is_missing_with_the_version_it_leads_to() {
        let all: Vec<_> = due(0, MIGRATIONS).unwrap().collect();
        assert_eq!(
            all,
            [(1, MIGRATIONS[0]), (2, MIGRATIONS[1]), (3, MIGRATIONS[2])]
        );
        let rest: Vec<_> = due(2, MIGRATIONS).unwrap().collect();
        assert_eq!(rest, [(3, MIGRATIONS[2])]);
        assert_eq!(due(3, MIGRATIONS).unwrap().count(), 0);
        assert!(matches!(
            due(4, MIGRATIONS),
            Err(MigrateError::TooNew { found: 4, known: 3 })
        ));
    }

    #[test]
    fn older_code_runs_on_a_newer_schema_only_after_additive_migrations() {
        // 4 and 5 add what older code ignores; 3 breaks the code before it.
        let additive = [4, 5];
        assert_eq!(oldest_compatible(5, &additive), 3);
        assert_eq!(oldest_compatible(4, &additive), 3);
        assert_eq!(oldest_compatible(3, &additive), 3);
        assert_eq!(oldest_compatible(6, &additive), 6);
        assert_eq!(oldest_compatible(1, &[1]), 0);
        assert!(
            may_run(5, 3, Some(3)).is_ok(),
            "code of 3 on a database at 5"
        );
        assert!(may_run(5, 4, Some(3)).is_ok());
        assert!(matches!(
            may_run(5, 2, Some(3)),
            Err(MigrateError::TooNew { found: 5, known: 2 })
        ));
        assert!(
            matches!(may_run(5, 4, None), Err(MigrateError::TooNew { .. })),
            "nothing recorded: refused"
        );
        assert!(may_run(3, 5, None).is_ok(), "an older database is migrated");
    }

    #[test]
    fn migrates_a_fresh_database_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate_sqlite(&mut conn, MIGRATIONS).unwrap(), 3);
        assert_eq!(version(&conn), 3);
        assert_eq!(
            migrate_sqlite(&mut conn, MIGRATIONS).unwrap(),
            3,
            "idempotent"
        );
        conn.execute("INSERT INTO a (x, z) VALUES (1, 'z')", [])
            .unwrap();
    }

    #[test]
    fn applies_only_the_missing_migrations() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate_sqlite(&mut conn, &MIGRATIONS[..1]).unwrap(), 1);
        assert_eq!(migrate_sqlite(&mut conn, MIGRATIONS).unwrap(), 3);
        assert_eq!(version(&conn), 3);
    }

    #[test]
    fn refuses_a_newer_database_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
        assert!(matches!(
            migrate_sqlite(&mut conn, MIGRATIONS),
            Err(MigrateError::TooNew { found: 7, known: 3 })
        ));
        assert_eq!(version(&conn), 7);
    }

    #[test]
    fn a_failing_migration_is_undone_and_keeps_the_version_before_it() {
        let mut conn = Connection::open_in_memory().unwrap();
        let broken = [MIGRATIONS[0], "CREATE TABLE c (v INTEGER); NOT SQL;"];
        assert!(matches!(
            migrate_sqlite(&mut conn, &broken),
            Err(MigrateError::Sqlite(_))
        ));
        assert_eq!(version(&conn), 1);
        let c: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'c'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(c, 0, "the failed migration left nothing");
    }
}
