-- ORDER BY a select-list position with LIMIT: the shadow's position 1 is another column
setup: CREATE TABLE t(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO t VALUES (1, 9), (2, 0), (3, 0);
T1: BEGIN;
    SELECT v FROM t WHERE k = 3;
    SELECT v FROM t ORDER BY 1 LIMIT 1;
    COMMIT;
T2: BEGIN;
    UPDATE t SET v = 5 WHERE k = 3;
    UPDATE t SET v = 10 WHERE k = 1;
    COMMIT;
