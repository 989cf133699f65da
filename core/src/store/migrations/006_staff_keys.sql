-- Schema version 6: staff sign in on the device. The data key is wrapped for each staff member
-- who signed in here online, under a key derived from their password (PBKDF2-HMAC-SHA256) and
-- the device secret (which the platform key wraps); optionally again under their PIN. Their
-- id, printed name, role and credential epoch are kept to sign them in offline; never their
-- password or anything derived from it beyond the wrap.
CREATE TABLE staff_keys (
    staff_id          TEXT PRIMARY KEY,
    display_name      TEXT NOT NULL,
    role              TEXT NOT NULL,
    -- The repository's credential epoch when they signed in online (a reset raises it).
    credential_epoch  INTEGER NOT NULL,
    -- PBKDF2 iterations (4 bytes, big-endian) then the salt.
    password_params   BLOB NOT NULL,
    password_wrap     BLOB NOT NULL,
    -- Consecutive wrong passwords offline; at the limit, only an online sign-in works.
    password_failures INTEGER NOT NULL DEFAULT 0,
    needs_online      INTEGER NOT NULL DEFAULT 0,
    pin_params        BLOB,
    pin_wrap          BLOB,
    pin_failures      INTEGER NOT NULL DEFAULT 0,
    signed_in_at      INTEGER NOT NULL
) STRICT;
