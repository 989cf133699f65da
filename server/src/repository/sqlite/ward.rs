//! [`WardStaff`] on SQLite: a site's ward staff and settings, device unlock keys, and who may
//! be named as the author of a site's changes ([`SqliteStorage::authors_of`], the core's
//! `HubStorage::site_authors`).

use super::super::ward::{
    UNATTRIBUTED_BEFORE, WARD_ROLES, WardStaff, settings_columns, settings_from,
};
use super::super::{RepoError, STAFF_COLUMNS, StaffRecord, staff_record};
use super::SqliteStorage;
use rusqlite::params;
use wardcrf_core::repository::SiteAuthors;
use wardcrf_core::staff::SiteSettings;

impl SqliteStorage {
    /// Who may be named as the author of `site`'s changes (see [`SiteAuthors`]).
    pub(super) fn authors_of(&mut self, site: &str) -> rusqlite::Result<SiteAuthors> {
        let staff = self.all(
            "SELECT username FROM staff_users WHERE site_id = ?1 AND role IN (?2, ?3)",
            params![site, WARD_ROLES[0], WARD_ROLES[1]],
            |r| r.get::<_, String>(0),
        )?;
        let unattributed_before = self.one(
            "SELECT value FROM repository_settings WHERE name = ?1",
            [UNATTRIBUTED_BEFORE],
            |r| r.get(0),
        )?;
        Ok(SiteAuthors {
            staff: staff.into_iter().collect(),
            unattributed_before,
        })
    }
}

impl WardStaff for SqliteStorage {
    fn site_staff(&mut self, site_id: &str) -> Result<Vec<StaffRecord>, RepoError> {
        Ok(self.all(
            &format!(
                "SELECT {STAFF_COLUMNS} FROM staff_users WHERE site_id = ?1 AND role IN (?2, ?3)
                 ORDER BY username"
            ),
            params![site_id, WARD_ROLES[0], WARD_ROLES[1]],
            |r| staff_record(r),
        )?)
    }

    fn site_settings(&mut self, site_id: &str) -> Result<Option<SiteSettings>, RepoError> {
        let found: Option<(i64, Option<String>, Option<String>)> = self.one(
            "SELECT lock_after_minutes, signature_meanings, default_units FROM sites WHERE site_id = ?1",
            [site_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        found
            .map(|(lock, meanings, units)| {
                settings_from(lock, meanings.as_deref(), units.as_deref())
            })
            .transpose()
    }

    fn set_site_settings(
        &mut self,
        site_id: &str,
        settings: &SiteSettings,
    ) -> Result<(), RepoError> {
        let (lock, meanings, units) = settings_columns(settings)?;
        let n = self.conn.execute(
            "UPDATE sites SET lock_after_minutes = ?2, signature_meanings = ?3, default_units = ?4
             WHERE site_id = ?1",
            params![site_id, lock, meanings, units],
        )?;
        if n == 0 {
            return Err(RepoError::UnknownSite);
        }
        Ok(())
    }

    fn device_key(&mut self, device_id: &str) -> Result<Option<String>, RepoError> {
        let found: Option<Option<String>> = self.one(
            "SELECT device_key FROM devices WHERE device_id = ?1",
            [device_id],
            |r| r.get(0),
        )?;
        found.ok_or(RepoError::UnknownDevice)
    }

    fn give_device_key(&mut self, device_id: &str, key: &str) -> Result<String, RepoError> {
        // One statement: the key a concurrent sign-in gave first is kept.
        let found: Option<String> = self.one(
            "UPDATE devices SET device_key = COALESCE(device_key, ?2) WHERE device_id = ?1
             RETURNING device_key",
            params![device_id, key],
            |r| r.get(0),
        )?;
        found.ok_or(RepoError::UnknownDevice)
    }

    fn unattributed_before(&mut self) -> Result<Option<i64>, RepoError> {
        Ok(self.one(
            "SELECT value FROM repository_settings WHERE name = ?1",
            [UNATTRIBUTED_BEFORE],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MIGRATIONS, migrate};
    use rusqlite::Connection;

    #[test]
    fn migration_006_keeps_staff_sites_and_devices_and_records_when_it_ran() {
        let mut conn = Connection::open_in_memory().unwrap();
        // A repository at schema 5, with a nurse, a site and a device.
        wardcrf_core::migrate::migrate_sqlite(&mut conn, &MIGRATIONS[..5]).unwrap();
        conn.execute_batch(
            "INSERT INTO sites (site_id, name, created_at) VALUES ('a', 'A', 1);
             INSERT INTO staff_users (username, role, site_id, password_hash, created_at)
                 VALUES ('nina', 'site_nurse', 'a', 'h', 1);
             INSERT INTO devices (device_id, site_id, token_sha256, enrolled_at)
                 VALUES ('d1', 'a', x'00', 1);",
        )
        .unwrap();
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert_eq!(
            wardcrf_core::migrate::migrate_sqlite(&mut conn, &MIGRATIONS[..6]).unwrap(),
            6
        );
        assert!(migrate(&mut conn).unwrap() >= 6);
        let (name, epoch): (String, i64) = conn
            .query_row(
                "SELECT display_name, credential_epoch FROM staff_users WHERE username = 'nina'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((name.as_str(), epoch), ("", 0), "'' means the user name");
        let (lock, meanings): (i64, Option<String>) = conn
            .query_row(
                "SELECT lock_after_minutes, signature_meanings FROM sites WHERE site_id = 'a'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((lock, meanings), (5, None), "NULL meanings: the defaults");
        let key: Option<String> = conn
            .query_row("SELECT device_key FROM devices", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            key, None,
            "an older device gets its key at its first sign-in"
        );
        let ran: i64 = conn
            .query_row(
                "SELECT value FROM repository_settings WHERE name = 'unattributed_before'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            (before - 5..=before + 5).contains(&ran),
            "{ran} vs {before}"
        );
    }
}
