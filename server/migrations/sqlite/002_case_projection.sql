-- A queryable projection of every stored case, rewritten after each sync exchange that stores
-- it: metadata, flattened values, open conflicts and data-quality flags (the validation
-- report's errors and warnings). JSON columns hold JSON text.

CREATE TABLE case_projection (
    case_id    TEXT PRIMARY KEY,
    site_id    TEXT NOT NULL,
    form_id    TEXT NOT NULL,
    modules    TEXT NOT NULL,
    status     TEXT NOT NULL,
    deleted    INTEGER NOT NULL,
    "values"   TEXT NOT NULL,
    conflicts  TEXT NOT NULL,
    n_conflicts INTEGER NOT NULL,
    flags      TEXT NOT NULL,
    n_flags    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE INDEX case_projection_by_site ON case_projection(site_id, case_id);
