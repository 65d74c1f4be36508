-- sql_mode=NO_BACKSLASH_ESCAPES (MariaDB): a backslash in a value, then a predicate read
setup: CREATE TABLE t(k INTEGER PRIMARY KEY, v VARCHAR(8) NOT NULL);
       INSERT INTO t VALUES (1, 'x');
       CREATE TABLE u(k INTEGER PRIMARY KEY, n INTEGER NOT NULL);
       INSERT INTO u VALUES (1, 0);
T2: BEGIN;
    UPDATE t SET v = 'a\' WHERE k = 1;
    UPDATE u SET n = 1 WHERE k = 1;
    COMMIT;
T1: BEGIN;
    SELECT * FROM u WHERE k = 1;
    SELECT * FROM t WHERE length(v) = 3;
    COMMIT;
