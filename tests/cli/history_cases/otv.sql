-- observed transaction vanishes: the reader sees the writer's y, and then x as it was before it
-- anomaly: OTV
setup: CREATE TABLE kv(k VARCHAR(16) PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO kv VALUES ('x', 0), ('y', 0);
       CREATE TABLE seen(x INTEGER NOT NULL, y INTEGER NOT NULL);
W: BEGIN;
   UPDATE kv SET v = 1 WHERE k = 'y';
   UPDATE kv SET v = 1 WHERE k = 'x';
   COMMIT;
reader: BEGIN;
        SELECT v AS y FROM kv WHERE k = 'y' \gset
        SELECT v AS x FROM kv WHERE k = 'x' \gset
        INSERT INTO seen VALUES (:x, :y);
        COMMIT;
-- Having seen W's y, the reader must see W's x too.
check: SELECT count(*) = 0 FROM seen WHERE y = 1 AND x = 0;
