-- xceptor schema, version 4 (SQLite): which number format made each embedding. Embeddings of one model at
-- different precisions are comparable and share its model id; this tells them apart. Earlier rows were
-- all made in fp32.
ALTER TABLE embeddings ADD COLUMN precision TEXT NOT NULL DEFAULT 'fp32' CHECK (precision IN ('fp32', 'bf16', 'int8'));
