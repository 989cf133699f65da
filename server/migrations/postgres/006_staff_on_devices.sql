-- Staff sign in on their site's tablets, and every change names its author: the same as
-- ../006_staff_on_devices.sql (SQLite), where each column is described.

ALTER TABLE staff_users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE staff_users ADD COLUMN credential_epoch BIGINT NOT NULL DEFAULT 0;

CREATE INDEX staff_users_by_site ON staff_users(site_id) WHERE site_id IS NOT NULL;

ALTER TABLE sites ADD COLUMN lock_after_minutes INTEGER NOT NULL DEFAULT 5;
ALTER TABLE sites ADD COLUMN signature_meanings TEXT;

ALTER TABLE devices ADD COLUMN device_key TEXT;

CREATE TABLE repository_settings (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO repository_settings (name, value)
VALUES ('unattributed_before', EXTRACT(EPOCH FROM now())::BIGINT);
