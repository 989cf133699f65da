-- Schema version 7: what a case list shows, without opening a case document. `label` is the
-- case's display label (the values of the fields its form designates in `list_label`, which
-- may identify the patient), sealed with AES-256-GCM under the data key with associated data
-- naming the case, and rewritten on every write of the case; NULL for a case written before
-- this version, until the store's one-time backfill (on the first list) has sealed one.
-- `conflicts` is the number of open conflicts (a count, no content). The partial index finds
-- the cases the backfill still has to do, so a store with none costs nothing to ask.
ALTER TABLE cases ADD COLUMN label BLOB;
ALTER TABLE cases ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0;
UPDATE cases SET conflicts = has_conflicts;
CREATE INDEX cases_without_label ON cases (case_id) WHERE label IS NULL;
