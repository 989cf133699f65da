-- The projection queue: the cases whose projection (case_projection) is older than their
-- stored document. Every writer of a case records it here in its own transaction; workers
-- in every server process drain it. One row per case: the newest sequence number to
-- project and when the oldest unprojected change was queued (unix seconds). A case that
-- cannot be projected keeps its row with the reason (failure, failed_at) and is not tried
-- again until a newer document is stored.

-- The sequence number of the document each projection was made from (a projection is
-- never replaced by one made from an older document).
ALTER TABLE case_projection ADD COLUMN projected_seq INTEGER NOT NULL DEFAULT 0;

-- Projections written before this version were made in the exchange that stored the
-- document: they are as new as it.
UPDATE case_projection SET projected_seq = COALESCE(
    (SELECT seq FROM cases c WHERE c.case_id = case_projection.case_id), 0);

CREATE TABLE projection_queue (
    case_id     TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    enqueued_at INTEGER NOT NULL,
    failure     TEXT,
    failed_at   INTEGER
) STRICT;

CREATE INDEX projection_queue_pending ON projection_queue(enqueued_at, case_id)
    WHERE failure IS NULL;
