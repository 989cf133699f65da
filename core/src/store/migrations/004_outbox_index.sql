-- Schema version 4: the cases waiting to be pushed, and the cases with open conflicts,
-- indexed, so that finding them costs what is waiting rather than a scan of every case (a
-- sync of a 10,000-case store reads the outbox once per exchange and counts the conflicts at
-- its end). The conditions are exactly those of `CaseStore::sync_outbox` and `conflicts`.
CREATE INDEX cases_outbox ON cases (updated_at, case_id)
    WHERE server_heads = x'' OR local_heads != server_heads;
CREATE INDEX cases_with_conflicts ON cases (updated_at, case_id)
    WHERE has_conflicts = 1 AND deleted = 0;
