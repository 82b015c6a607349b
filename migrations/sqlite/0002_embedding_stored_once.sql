-- xceptor schema, version 2 (SQLite): an embedding is stored once, as computed. Version 1 kept a
-- normalised copy beside it (8 KiB more per image at 2048 float32 values); search now normalises what
-- it reads, in one place.
--
-- SQLite cannot drop a column named in a CHECK constraint, so the table is rebuilt. Dropping the old
-- table would cascade to the labels that reference it, so labels move to a new table first; renaming
-- the new tables into place rewrites the references.
CREATE TABLE embeddings_v2 (
    id            INTEGER PRIMARY KEY,
    image_id      INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    model_id      TEXT    NOT NULL,
    dimensions    INTEGER NOT NULL CHECK (dimensions > 0),
    vector        BLOB    NOT NULL,          -- float32 little-endian, as computed
    created_at    INTEGER NOT NULL,
    UNIQUE (image_id, model_id),
    CHECK (length(vector) = 4 * dimensions)
);
INSERT INTO embeddings_v2 (id, image_id, model_id, dimensions, vector, created_at)
    SELECT id, image_id, model_id, dimensions, vector, created_at FROM embeddings;

CREATE TABLE labels_v2 (
    embedding_id  INTEGER NOT NULL REFERENCES embeddings_v2(id) ON DELETE CASCADE,
    rank          INTEGER NOT NULL CHECK (rank >= 0),
    label         TEXT    NOT NULL,
    score         REAL    NOT NULL,
    PRIMARY KEY (embedding_id, rank)
) WITHOUT ROWID;
INSERT INTO labels_v2 (embedding_id, rank, label, score) SELECT embedding_id, rank, label, score FROM labels;

DROP TABLE labels;
DROP TABLE embeddings;
ALTER TABLE embeddings_v2 RENAME TO embeddings;
ALTER TABLE labels_v2 RENAME TO labels;

-- Filtering a search by best label reads this instead of every label.
CREATE INDEX labels_best ON labels (label) WHERE rank = 0;
