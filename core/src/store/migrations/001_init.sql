-- WardCRF device store, schema version 1.
-- Only what listing needs is plaintext, and none of it is patient data: random case ids, form
-- id and version, status, conflict flag, timestamps. Case documents are AES-256-GCM sealed.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE cases (
    case_id       TEXT PRIMARY KEY,
    form_id       TEXT NOT NULL,
    form_version  TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('draft', 'complete', 'signed')),
    has_conflicts INTEGER NOT NULL DEFAULT 0,
    deleted       INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    doc           BLOB NOT NULL
) STRICT;

CREATE INDEX cases_by_update ON cases (updated_at);

-- Keyed-hash index for finding a case by hospital record number or patient name:
-- token = HMAC(index key derived from the data key, normalised value).
CREATE TABLE lookup (
    kind    TEXT NOT NULL,
    token   BLOB NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (case_id) ON DELETE CASCADE,
    PRIMARY KEY (kind, token, case_id)
) STRICT;
