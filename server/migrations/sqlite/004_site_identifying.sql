-- Schema version 4: a site may keep identifying data (name, hospital record number, date of
-- birth) on its devices only. Its devices learn it at enrolment and never sync those fields;
-- the repository refuses a push that carries them. Set when the site is created.
ALTER TABLE sites ADD COLUMN identifying_on_device INTEGER NOT NULL DEFAULT 0;
