-- a DELETE (RETURNING gives the row as it was) read by a transaction that began before it
setup: CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT NOT NULL);
       INSERT INTO t VALUES (1, 'a'), (2, 'b');
T1: BEGIN;
    SELECT * FROM t WHERE k = 2;
    SELECT * FROM t WHERE k = 1;
    COMMIT;
T2: BEGIN;
    UPDATE t SET v = 'c' WHERE k = 2;
    DELETE FROM t WHERE k = 1;
    COMMIT;
