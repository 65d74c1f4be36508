-- observed transaction vanishes (OTV): a reader sees a writer's x, then y as it was before that writer
-- anomaly: OTV
setup: CREATE TABLE kv(k VARCHAR(16) PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO kv VALUES ('x', 0), ('y', 0);
       CREATE TABLE seen(x INTEGER NOT NULL, y INTEGER NOT NULL);
-- The writer counts both rows up, one at a time, in one transaction.
W: BEGIN;
   UPDATE kv SET v = v + 1 WHERE k = 'x';
   UPDATE kv SET v = v + 1 WHERE k = 'y';
   COMMIT;
-- The reader, in one transaction, reads x and then y.
reader: BEGIN;
        SELECT v AS x FROM kv WHERE k = 'x' \gset
        INSERT INTO seen SELECT :x, v FROM kv WHERE k = 'y';
        COMMIT;
-- Having seen the writer's x, the reader must see its y too: never the y from before it. Seen,
-- then gone: the writer's transaction vanished from the reader's view.
check: SELECT count(*) = 0 FROM seen WHERE y < x;
