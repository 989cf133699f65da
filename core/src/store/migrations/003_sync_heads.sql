-- Schema version 3: sync bookkeeping. `local_heads` are the heads of the case document as
-- stored; `server_heads` the heads the repository is known to hold (both: concatenated 32-byte
-- change hashes, which reveal nothing of the content). A case needs pushing when they differ
-- or when it was never synced, so a sync with nothing new decrypts nothing.
ALTER TABLE cases ADD COLUMN local_heads BLOB NOT NULL DEFAULT x'';
ALTER TABLE cases ADD COLUMN server_heads BLOB NOT NULL DEFAULT x'';
