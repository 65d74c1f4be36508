-- a setup trigger (MariaDB) writes another table of the same shape
setup: CREATE TABLE a(k INTEGER PRIMARY KEY, n INTEGER NOT NULL);
       CREATE TABLE b(k INTEGER PRIMARY KEY, n INTEGER NOT NULL);
       INSERT INTO a VALUES (1, 0), (2, 0);
       INSERT INTO b VALUES (1, 0), (2, 0);
       CREATE TRIGGER bump AFTER UPDATE ON a FOR EACH ROW UPDATE b SET n = n + 5 WHERE k = 2;
T1: BEGIN;
    UPDATE a SET n = 1 WHERE k = 1;
    COMMIT;
T2: BEGIN;
    SELECT * FROM a WHERE k = 2;
    SELECT * FROM a WHERE k = 1;
    COMMIT;
