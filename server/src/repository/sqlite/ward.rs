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
        let found: Option<(i64, Option<String>)> = self.one(
            "SELECT lock_after_minutes, signature_meanings FROM sites WHERE site_id = ?1",
            [site_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        found
            .map(|(lock, meanings)| settings_from(lock, meanings.as_deref()))
            .transpose()
    }

    fn set_site_settings(
        &mut self,
        site_id: &str,
        settings: &SiteSettings,
    ) -> Result<(), RepoError> {
        let (lock, meanings) = settings_columns(settings)?;
        let n = self.conn.execute(
            "UPDATE sites SET lock_after_minutes = ?2, signature_meanings = ?3 WHERE site_id = ?1",
            params![site_id, lock, meanings],
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
