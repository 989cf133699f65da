-- The web console's staff users and their sessions: the same tables as ../003_console.sql
-- (SQLite).

CREATE TABLE staff_users (
    username      TEXT COLLATE "C" PRIMARY KEY,
    role          TEXT NOT NULL,
    site_id       TEXT COLLATE "C" REFERENCES sites(site_id),
    password_hash TEXT NOT NULL,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until  BIGINT,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL
);

CREATE TABLE staff_sessions (
    token_sha256 BYTEA PRIMARY KEY,
    username     TEXT COLLATE "C" NOT NULL REFERENCES staff_users(username) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE INDEX staff_sessions_by_user ON staff_sessions(username);
