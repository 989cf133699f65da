-- The repository's first schema: sites, enrolment, devices and the cases they sync.

CREATE TABLE sites (
    site_id    TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- The sequence number of each site's last case change.
CREATE TABLE site_seq (
    site_id TEXT PRIMARY KEY,
    seq     INTEGER NOT NULL
) STRICT;

CREATE TABLE enroll_codes (
    code_sha256 BLOB PRIMARY KEY,
    site_id     TEXT NOT NULL REFERENCES sites(site_id),
    expires_at  INTEGER NOT NULL,
    used        INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE devices (
    device_id    TEXT PRIMARY KEY,
    site_id      TEXT NOT NULL REFERENCES sites(site_id),
    token_sha256 BLOB NOT NULL UNIQUE,
    enrolled_at  INTEGER NOT NULL,
    last_sync_at INTEGER,
    revoked      INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE cases (
    case_id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    form_id TEXT NOT NULL,
    doc     BLOB NOT NULL,
    seq     INTEGER NOT NULL
) STRICT;

CREATE INDEX cases_by_site_seq ON cases(site_id, seq);

-- Heads a device is known to hold, per case.
CREATE TABLE device_known (
    device_id TEXT NOT NULL,
    case_id   TEXT NOT NULL,
    heads     BLOB NOT NULL,
    PRIMARY KEY (device_id, case_id)
) STRICT;

-- Heads sent to a device, known once its cursor reaches seq.
CREATE TABLE device_sent (
    id        INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    case_id   TEXT NOT NULL,
    heads     BLOB NOT NULL,
    seq       INTEGER NOT NULL
) STRICT;

CREATE INDEX device_sent_by_device ON device_sent(device_id, seq);
