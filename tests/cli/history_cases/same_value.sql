-- a write of the value a row already has: two versions with one value
setup: CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT NOT NULL);
       INSERT INTO t VALUES (1, 'a'), (2, 'b');
T1: BEGIN;
    SELECT * FROM t WHERE k = 2;
    SELECT * FROM t WHERE k = 1;
    COMMIT;
T2: BEGIN;
    UPDATE t SET v = 'c' WHERE k = 2;
    UPDATE t SET v = v WHERE k = 1;
    COMMIT;
