-- Schema version 4: the cases waiting to be pushed, indexed, so that finding them costs what
-- is waiting rather than a scan of every case (a sync of a 10,000-case store reads the outbox
-- once per exchange). The condition is exactly the one of `CaseStore::sync_outbox`.
CREATE INDEX cases_outbox ON cases (updated_at, case_id)
    WHERE server_heads = x'' OR local_heads != server_heads;
