-- observed transaction vanishes (OTV): a reader sees a later writer's x, then an earlier writer's y
-- anomaly: OTV
setup: CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO kv VALUES ('x', 0), ('y', 0);
       CREATE TABLE seen(x INTEGER NOT NULL, y INTEGER NOT NULL);
-- Each writer is one transaction that counts both rows up (one UPDATE, committed on its own), so
-- a row's value says how many writers it has seen.
W1: UPDATE kv SET v = v + 1;
W2: UPDATE kv SET v = v + 1;
reader: BEGIN;
        SELECT v AS x FROM kv WHERE k = 'x' \gset
        SELECT v AS y FROM kv WHERE k = 'y' \gset
        INSERT INTO seen VALUES (:x, :y);
        COMMIT;
-- Having seen a writer's x, the reader must see its y too (or a later one): never an older y.
check: SELECT count(*) = 0 FROM seen WHERE y < x;
