-- The repository's epoch: a random id made when the database is created and replaced when it
-- is restored from a backup (`wardcrf-server restore`, `wardcrf-server new-epoch`). Every sync
-- answer carries it; a device that sees it change knows the repository may lack what the
-- device pushed after the backup was taken, and pushes everything again.
CREATE TABLE repository_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch TEXT NOT NULL
);
INSERT INTO repository_epoch (id, epoch) VALUES (1, lower(hex(randomblob(16))));
