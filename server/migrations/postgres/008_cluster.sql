-- Values every server process of one repository must share, recorded once by the process
-- that starts first: the admin token's SHA-256, the pseudonym key's fingerprint (a keyed
-- hash, never the key), the demo's sign-in. A row is never replaced.
CREATE TABLE repository_secrets (
    name   TEXT PRIMARY KEY,
    value  BYTEA NOT NULL,
    set_at BIGINT NOT NULL
);
