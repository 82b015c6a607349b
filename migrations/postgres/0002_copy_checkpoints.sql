-- xceptor schema, version 2 (PostgreSQL): `xceptor copy` records how far each copy into this store got, in
-- the same transaction as every page it imports, so a copy that was stopped resumes where it left off.
CREATE TABLE copy_checkpoints (
    source          text    PRIMARY KEY,     -- the source store, without any password
    keep_ids        boolean NOT NULL,        -- this store was empty when the copy began: records keep their ids
    after_image_id  bigint,                  -- the last image and job of the source imported so far
    after_job_id    bigint,
    finished        boolean NOT NULL DEFAULT false,
    updated_at      bigint  NOT NULL
);
