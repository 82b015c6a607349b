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
-- A search reads the embeddings stored after what it holds (model_id = ? AND image_id > ? ORDER BY image_id)
-- from this index; on model_id alone the same read looked up every row's image_id in the table.
CREATE INDEX embeddings_model ON embeddings (model_id, image_id);

-- Embeddings per model, kept by triggers: every search asks (to pick the model and to notice a purged
-- index), and counting them took 5-7 ms a time at 100k rows even from the index, most of a search by job.
-- Deletes cascading from images fire the delete trigger too.
CREATE TABLE embedding_counts (
    model_id    TEXT    PRIMARY KEY,
    embeddings  INTEGER NOT NULL CHECK (embeddings >= 0)
) WITHOUT ROWID;
INSERT INTO embedding_counts (model_id, embeddings) SELECT model_id, count(*) FROM embeddings GROUP BY model_id;
CREATE TRIGGER embeddings_counted AFTER INSERT ON embeddings BEGIN
    INSERT INTO embedding_counts (model_id, embeddings) VALUES (NEW.model_id, 1)
        ON CONFLICT (model_id) DO UPDATE SET embeddings = embeddings + 1;
END;
CREATE TRIGGER embeddings_uncounted AFTER DELETE ON embeddings BEGIN
    UPDATE embedding_counts SET embeddings = embeddings - 1 WHERE model_id = OLD.model_id;
    DELETE FROM embedding_counts WHERE model_id = OLD.model_id AND embeddings = 0;
END;
