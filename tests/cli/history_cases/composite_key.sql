-- composite keys whose parts hold the separator: (1, 2 | 3) and (1 | 2, 3)
setup: CREATE TABLE t(a VARCHAR(8), b VARCHAR(8), v INTEGER NOT NULL, PRIMARY KEY (a, b));
       INSERT INTO t VALUES ('1, 2', '3', 0), ('1', '2, 3', 0);
       CREATE TABLE c(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO c VALUES (1, 0);
T1: BEGIN;
    UPDATE t SET v = 1 WHERE a = '1, 2';
    UPDATE c SET v = 1 WHERE k = 1;
    COMMIT;
T2: BEGIN;
    SELECT * FROM c WHERE k = 1;
    SELECT * FROM t WHERE a = '1';
    COMMIT;
