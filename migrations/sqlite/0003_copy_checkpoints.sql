-- xceptor schema, version 3 (SQLite): `xceptor copy` records how far each copy into this store got, in the
-- same transaction as every page it imports, so a copy that was stopped resumes where it left off.
CREATE TABLE copy_checkpoints (
    source          TEXT    PRIMARY KEY,     -- the source store, without any password
    keep_ids        INTEGER NOT NULL,        -- 1: this store was empty when the copy began, records keep their ids
    after_image_id  INTEGER,                 -- the last image and job of the source imported so far
    after_job_id    INTEGER,
    finished        INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
