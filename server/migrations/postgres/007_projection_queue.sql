-- The projection queue: the same as ../sqlite/007_projection_queue.sql. Workers claim rows
-- with FOR UPDATE SKIP LOCKED, so several server processes drain it side by side.

ALTER TABLE case_projection ADD COLUMN projected_seq BIGINT NOT NULL DEFAULT 0;

UPDATE case_projection p SET projected_seq = c.seq FROM cases c WHERE c.case_id = p.case_id;

CREATE TABLE projection_queue (
    case_id     TEXT COLLATE "C" PRIMARY KEY,
    seq         BIGINT NOT NULL,
    enqueued_at BIGINT NOT NULL,
    failure     TEXT,
    failed_at   BIGINT
);

CREATE INDEX projection_queue_pending ON projection_queue(enqueued_at, case_id)
    WHERE failure IS NULL;
