-- Damaged cases and bounded sync bookkeeping.

-- The device that last pushed each case (named when the case has to be quarantined).
ALTER TABLE cases ADD COLUMN pushed_by TEXT;

-- Stored cases whose document could not be loaded, with a copy of the damaged bytes (kept
-- for good: a record is lifted, never deleted, when a device pushes the case again whole).
-- At most one open record per case. Times are unix seconds.
CREATE TABLE case_quarantine (
    id         INTEGER PRIMARY KEY,
    case_id    TEXT NOT NULL,
    site_id    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    device_id  TEXT,
    doc        BLOB NOT NULL,
    first_seen INTEGER NOT NULL,
    lifted_at  INTEGER
) STRICT;

CREATE UNIQUE INDEX case_quarantine_open ON case_quarantine(case_id) WHERE lifted_at IS NULL;
CREATE INDEX case_quarantine_by_site ON case_quarantine(site_id, case_id) WHERE lifted_at IS NULL;

-- At most one pending record of sent heads per device and case: the newest (see
-- HubStorage::record_sent); older duplicates are dropped.
DELETE FROM device_sent WHERE id NOT IN (
    SELECT MAX(id) FROM device_sent GROUP BY device_id, case_id
);
CREATE UNIQUE INDEX device_sent_one_per_case ON device_sent(device_id, case_id);
