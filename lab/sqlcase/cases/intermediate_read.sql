-- intermediate read (G1b): a reader must never see a value its writer overwrote before committing
-- anomaly: G1b
setup: CREATE TABLE x(id INTEGER PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO x VALUES (1, 0);
       CREATE TABLE seen(v INTEGER NOT NULL);
writer: BEGIN;
        UPDATE x SET v = 1 WHERE id = 1;
        UPDATE x SET v = 2 WHERE id = 1;
        COMMIT;
reader: BEGIN;
        SELECT v FROM x WHERE id = 1 \gset
        INSERT INTO seen VALUES (:v);
        COMMIT;
check: SELECT count(*) = 0 FROM seen WHERE v = 1;
