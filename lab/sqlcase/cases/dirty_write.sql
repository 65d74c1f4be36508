-- dirty write (G0): two transactions each set a pair of rows that must stay equal
-- anomaly: G0
setup: CREATE TABLE pair(id VARCHAR(16) PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO pair VALUES ('a', 0), ('b', 0);
T1: BEGIN;
    UPDATE pair SET v = 1 WHERE id = 'a';
    UPDATE pair SET v = 1 WHERE id = 'b';
    COMMIT;
T2: BEGIN;
    UPDATE pair SET v = 2 WHERE id = 'b';
    UPDATE pair SET v = 2 WHERE id = 'a';
    COMMIT;
check: SELECT count(DISTINCT v) = 1 FROM pair;
