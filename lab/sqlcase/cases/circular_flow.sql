-- circular information flow (G1c): two transactions each see the other's write
-- anomaly: G1c
setup: CREATE TABLE kv(k VARCHAR(16) PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO kv VALUES ('x', 0), ('y', 0);
       CREATE TABLE seen(who TEXT NOT NULL, v INTEGER NOT NULL);
T1: BEGIN;
    UPDATE kv SET v = 1 WHERE k = 'x';
    SELECT v FROM kv WHERE k = 'y' \gset
    INSERT INTO seen VALUES ('T1', :v);
    COMMIT;
T2: BEGIN;
    UPDATE kv SET v = 1 WHERE k = 'y';
    SELECT v FROM kv WHERE k = 'x' \gset
    INSERT INTO seen VALUES ('T2', :v);
    COMMIT;
-- Each may see the other's write only if the other committed first: never both.
check: SELECT count(*) < 2 FROM seen WHERE v = 1;
