-- Damaged cases and bounded sync bookkeeping: the same as ../005_quarantine.sql (SQLite).

-- The device that last pushed each case (named when the case has to be quarantined).
ALTER TABLE cases ADD COLUMN pushed_by TEXT COLLATE "C";

-- Stored cases whose document could not be loaded, with a copy of the damaged bytes (kept
-- for good: a record is lifted, never deleted, when a device pushes the case again whole).
-- At most one open record per case. Times are unix seconds.
CREATE TABLE case_quarantine (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id    TEXT COLLATE "C" NOT NULL,
    site_id    TEXT COLLATE "C" NOT NULL,
    reason     TEXT NOT NULL,
    device_id  TEXT COLLATE "C",
    doc        BYTEA NOT NULL,
    first_seen BIGINT NOT NULL,
    lifted_at  BIGINT
);

CREATE UNIQUE INDEX case_quarantine_open ON case_quarantine(case_id) WHERE lifted_at IS NULL;
CREATE INDEX case_quarantine_by_site ON case_quarantine(site_id, case_id) WHERE lifted_at IS NULL;

-- At most one pending record of sent heads per device and case: the newest (see
-- HubStorage::record_sent); older duplicates are dropped.
DELETE FROM device_sent d USING device_sent newer
 WHERE newer.device_id = d.device_id AND newer.case_id = d.case_id AND newer.id > d.id;
CREATE UNIQUE INDEX device_sent_one_per_case ON device_sent(device_id, case_id);
