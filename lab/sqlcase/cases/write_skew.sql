-- write skew (G2-item): two doctors go off call at once; each checked that another stays on call
-- anomaly: G2-item
setup: CREATE TABLE doctors(name VARCHAR(16) PRIMARY KEY, on_call INTEGER NOT NULL);
       INSERT INTO doctors VALUES ('alice', 1), ('bob', 1);
T1: BEGIN;
    SELECT count(*) AS others FROM doctors WHERE on_call = 1 AND name <> 'alice' \gset
    UPDATE doctors SET on_call = 0 WHERE name = 'alice' AND :others >= 1;
    COMMIT;
T2: BEGIN;
    SELECT count(*) AS others FROM doctors WHERE on_call = 1 AND name <> 'bob' \gset
    UPDATE doctors SET on_call = 0 WHERE name = 'bob' AND :others >= 1;
    COMMIT;
check: SELECT count(*) >= 1 FROM doctors WHERE on_call = 1;
