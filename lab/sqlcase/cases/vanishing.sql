-- observed transaction vanishes (OTV): a reader sees one writer's x, then an older writer's y
-- anomaly: OTV
setup: CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO kv VALUES ('x', 0), ('y', 0);
       CREATE TABLE seen(x INTEGER NOT NULL, y INTEGER NOT NULL);
-- Each writer is one transaction that writes both rows (one UPDATE, committed on its own).
T1: UPDATE kv SET v = 1;
T2: UPDATE kv SET v = 2;
T3: BEGIN;
    SELECT v AS x FROM kv WHERE k = 'x' \gset
    SELECT v AS y FROM kv WHERE k = 'y' \gset
    INSERT INTO seen VALUES (:x, :y);
    COMMIT;
-- Having seen T2's x, the reader must not see T2's y vanish behind T1's.
check: SELECT count(*) = 0 FROM seen WHERE x = 2 AND y = 1;
