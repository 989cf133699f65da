-- The repository's first schema in PostgreSQL: the same tables as ../001_init.sql (SQLite).
-- Times are unix seconds; hashes and documents are bytes. Identifiers sort bytewise (COLLATE "C"),
-- as in SQLite, whatever the database's locale.

CREATE TABLE sites (
    site_id    TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The sequence number of each site's last case change.
CREATE TABLE site_seq (
    site_id TEXT COLLATE "C" PRIMARY KEY,
    seq     BIGINT NOT NULL
);

CREATE TABLE enroll_codes (
    code_sha256 BYTEA PRIMARY KEY,
    site_id     TEXT COLLATE "C" NOT NULL REFERENCES sites(site_id),
    expires_at  BIGINT NOT NULL,
    used        BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE devices (
    device_id    TEXT COLLATE "C" PRIMARY KEY,
    site_id      TEXT COLLATE "C" NOT NULL REFERENCES sites(site_id),
    token_sha256 BYTEA NOT NULL UNIQUE,
    enrolled_at  BIGINT NOT NULL,
    last_sync_at BIGINT,
    revoked      BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE cases (
    case_id TEXT COLLATE "C" PRIMARY KEY,
    site_id TEXT COLLATE "C" NOT NULL,
    form_id TEXT COLLATE "C" NOT NULL,
    doc     BYTEA NOT NULL,
    seq     BIGINT NOT NULL
);

CREATE INDEX cases_by_site_seq ON cases(site_id, seq);

-- Heads a device is known to hold, per case.
CREATE TABLE device_known (
    device_id TEXT COLLATE "C" NOT NULL,
    case_id   TEXT COLLATE "C" NOT NULL,
    heads     BYTEA NOT NULL,
    PRIMARY KEY (device_id, case_id)
);

-- Heads sent to a device, known once its cursor reaches seq.
CREATE TABLE device_sent (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id TEXT COLLATE "C" NOT NULL,
    case_id   TEXT COLLATE "C" NOT NULL,
    heads     BYTEA NOT NULL,
    seq       BIGINT NOT NULL
);

CREATE INDEX device_sent_by_device ON device_sent(device_id, seq);
