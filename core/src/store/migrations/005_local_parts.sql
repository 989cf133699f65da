-- Schema version 5: the device-only part of a case. At a site whose repository keeps
-- identifying data on the device (a site setting the device learns at enrolment), the values
-- of identifying fields (name, hospital record number, date of birth) are written to a second
-- automerge document per case, sealed like the case document with its own associated data. It
-- is never pushed, pulled, exported or merged: only this device ever holds those values.
CREATE TABLE local_parts (
    case_id TEXT PRIMARY KEY REFERENCES cases (case_id) ON DELETE CASCADE,
    doc     BLOB NOT NULL
) STRICT;
