-- A site's default unit per field (JSON object field id -> UCUM code; NULL: every field
-- starts in its own unit). Devices read it with the roster.
ALTER TABLE sites ADD COLUMN default_units TEXT;
