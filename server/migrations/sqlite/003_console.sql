-- The web console's staff users and their sessions. Passwords are kept only as salted
-- PBKDF2-HMAC-SHA256 hashes ("pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>"), session
-- tokens only as SHA-256 hashes; each session carries its CSRF token.

CREATE TABLE staff_users (
    username      TEXT PRIMARY KEY,
    -- admin | data_manager | site_nurse
    role          TEXT NOT NULL,
    -- The site a site nurse belongs to (NULL for the other roles).
    site_id       TEXT REFERENCES sites(site_id),
    password_hash TEXT NOT NULL,
    -- Consecutive failed logins; at the limit the account is locked until locked_until.
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE staff_sessions (
    token_sha256 BLOB PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES staff_users(username) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX staff_sessions_by_user ON staff_sessions(username);
