-- Archives: closed history moved out of the live file (`keelson db archive`), never forgotten.
-- Each row is one archive file holding the events at positions first_position–last_position,
-- in order; together with the live `events` table they are the whole log, and the store reads
-- through them (the TEMP view `log`). `digest` chains the archives: each is the SHA-256 of the
-- previous archive's digest and of its own events, so `keelson db check` can tell an archive
-- that changed, went missing or was swapped for another.
CREATE TABLE archives (
    first_position  INTEGER PRIMARY KEY,
    last_position   INTEGER NOT NULL,
    events          INTEGER NOT NULL,
    path            TEXT    NOT NULL,             -- absolute
    digest          TEXT    NOT NULL,             -- sha256:<hex>
    previous_digest TEXT    NOT NULL,             -- the previous archive's digest ('' for the first)
    archived_at     INTEGER NOT NULL              -- ms since 1970
);
