-- The queryable projection of every stored case: the same table as ../002_case_projection.sql
-- (SQLite). JSON columns hold JSON text, as in SQLite.

CREATE TABLE case_projection (
    case_id     TEXT COLLATE "C" PRIMARY KEY,
    site_id     TEXT COLLATE "C" NOT NULL,
    form_id     TEXT NOT NULL,
    modules     TEXT NOT NULL,
    status      TEXT NOT NULL,
    deleted     BOOLEAN NOT NULL,
    "values"    TEXT NOT NULL,
    conflicts   TEXT NOT NULL,
    n_conflicts BIGINT NOT NULL,
    flags       TEXT NOT NULL,
    n_flags     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE INDEX case_projection_by_site ON case_projection(site_id, case_id);
