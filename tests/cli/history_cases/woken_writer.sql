-- a COMMIT ends the other session's lock wait, and the committer reads at once
setup: CREATE TABLE t(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO t VALUES (1, 0), (2, 0);
T1: BEGIN;
    UPDATE t SET v = 1 WHERE k = 1;
    UPDATE t SET v = 1 WHERE k = 2;
    COMMIT;
    SELECT * FROM t;
T2: UPDATE t SET v = 0 WHERE k = 1;
