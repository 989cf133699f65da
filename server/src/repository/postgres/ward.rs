//! [`WardStaff`] on PostgreSQL: the same as the SQLite backend's (`sqlite/ward.rs`): a site's
//! ward staff and settings, device unlock keys, and who may be named as the author of a
//! site's changes ([`PostgresStorage::authors_of`]).

use super::super::ward::{
    UNATTRIBUTED_BEFORE, WARD_ROLES, WardStaff, settings_columns, settings_from,
};
use super::super::{Columns, RepoError, STAFF_COLUMNS, StaffRecord, staff_record};
use super::PostgresStorage;
use wardcrf_core::repository::SiteAuthors;
use wardcrf_core::staff::SiteSettings;

impl PostgresStorage {
    /// Who may be named as the author of `site`'s changes (see [`SiteAuthors`]).
    pub(super) fn authors_of(&mut self, site: &str) -> Result<SiteAuthors, ::postgres::Error> {
        let (a, b) = (WARD_ROLES[0], WARD_ROLES[1]);
        let staff = self.db().all(
            "SELECT username FROM staff_users WHERE site_id = $1 AND role IN ($2, $3)",
            &[&site, &a, &b],
            |r| r.text(0),
        )?;
        let unattributed_before = self.db().one(
            "SELECT value FROM repository_settings WHERE name = $1",
            &[&UNATTRIBUTED_BEFORE],
            |r| r.int(0),
        )?;
        Ok(SiteAuthors {
            staff: staff.into_iter().collect(),
            unattributed_before,
        })
    }
}

impl WardStaff for PostgresStorage {
    fn site_staff(&mut self, site_id: &str) -> Result<Vec<StaffRecord>, RepoError> {
        let (a, b) = (WARD_ROLES[0], WARD_ROLES[1]);
        let sql = format!(
            "SELECT {STAFF_COLUMNS} FROM staff_users
             WHERE site_id = $1 AND role IN ($2, $3) ORDER BY username"
        );
        let rows = self.client.query(sql.as_str(), &[&site_id, &a, &b])?;
        Ok(rows.iter().map(staff_record).collect::<Result<_, _>>()?)
    }

    fn site_settings(&mut self, site_id: &str) -> Result<Option<SiteSettings>, RepoError> {
        let found = self.db().one(
            "SELECT lock_after_minutes::BIGINT, signature_meanings, default_units
             FROM sites WHERE site_id = $1",
            &[&site_id],
            |r| Ok((r.int(0)?, r.text_opt(1)?, r.text_opt(2)?)),
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
        let lock = i32::try_from(lock).unwrap_or(i32::MAX);
        let n = self.db().execute(
            "UPDATE sites SET lock_after_minutes = $2, signature_meanings = $3, default_units = $4
             WHERE site_id = $1",
            &[&site_id, &lock, &meanings, &units],
        )?;
        if n == 0 {
            return Err(RepoError::UnknownSite);
        }
        Ok(())
    }

    fn device_key(&mut self, device_id: &str) -> Result<Option<String>, RepoError> {
        let found = self.db().one(
            "SELECT device_key FROM devices WHERE device_id = $1",
            &[&device_id],
            |r| r.text_opt(0),
        )?;
        found.ok_or(RepoError::UnknownDevice)
    }

    fn give_device_key(&mut self, device_id: &str, key: &str) -> Result<String, RepoError> {
        // One statement: the key a concurrent sign-in gave first is kept.
        let found = self.db().one(
            "UPDATE devices SET device_key = COALESCE(device_key, $2) WHERE device_id = $1
             RETURNING device_key",
            &[&device_id, &key],
            |r| r.text(0),
        )?;
        found.ok_or(RepoError::UnknownDevice)
    }

    fn unattributed_before(&mut self) -> Result<Option<i64>, RepoError> {
        Ok(self.db().one(
            "SELECT value FROM repository_settings WHERE name = $1",
            &[&UNATTRIBUTED_BEFORE],
            |r| r.int(0),
        )?)
    }
}
