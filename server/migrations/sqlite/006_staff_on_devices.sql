-- Staff sign in on their site's tablets, and every change names its author.
--
-- Roles: besides admin, data_manager and site_nurse, a staff user may be a `clinician`
-- (site-scoped like a site nurse: site_id names the site). Clinicians and site nurses sign in
-- on their own site's tablets; a clinician cannot sign in to the console. Accounts are never
-- deleted: `disabled` deactivates one everywhere (its history stays its own).

-- The printed name shown with a person's entries and signatures; '' means "the user name".
ALTER TABLE staff_users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
-- Raised by every password reset: a device that signed the person in
-- under a lower epoch asks for an online sign-in again.
ALTER TABLE staff_users ADD COLUMN credential_epoch INTEGER NOT NULL DEFAULT 0;

CREATE INDEX staff_users_by_site ON staff_users(site_id) WHERE site_id IS NOT NULL;

-- A site's settings that its tablets follow: the inactivity lock (minutes) and the meanings
-- a signer chooses from (JSON array of {code, en, ja, de}; NULL: the core's defaults).
ALTER TABLE sites ADD COLUMN lock_after_minutes INTEGER NOT NULL DEFAULT 5;
ALTER TABLE sites ADD COLUMN signature_meanings TEXT;

-- The device's unlock key (64 hex digits, secret): given to the device at enrolment (or at
-- the first staff sign-in of a device enrolled before), handed back to a staff member
-- signing in online and to an administrator recovering the device's store. NULL for a
-- device enrolled before and never signed in on since.
ALTER TABLE devices ADD COLUMN device_key TEXT;

-- Settings of the repository itself, one row each. `unattributed_before`: the time (unix
-- seconds) this migration ran; a change naming no signed-in author is legacy, and taken,
-- only when made before it.
CREATE TABLE repository_settings (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;

INSERT INTO repository_settings (name, value)
VALUES ('unattributed_before', CAST(strftime('%s', 'now') AS INTEGER));
