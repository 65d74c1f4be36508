-- no primary key: the rows NULL and 'NULL' are two rows
setup: CREATE TABLE t(name VARCHAR(8));
       INSERT INTO t VALUES (NULL), ('NULL');
       CREATE TABLE c(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO c VALUES (1, 0);
T1: BEGIN;
    DELETE FROM t WHERE name = 'NULL';
    UPDATE c SET v = 1 WHERE k = 1;
    COMMIT;
T2: BEGIN;
    SELECT * FROM c WHERE k = 1;
    SELECT * FROM t WHERE name IS NULL;
    COMMIT;
