-- lost update (P4): two requests read a counter and each write back what they read plus one
-- anomaly: P4
setup: CREATE TABLE counter(id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
       INSERT INTO counter VALUES (1, 0);
       CREATE TABLE done(session VARCHAR(16) PRIMARY KEY);
T1: BEGIN;
    SELECT n FROM counter WHERE id = 1 \gset
    UPDATE counter SET n = :n + 1 WHERE id = 1;
    INSERT INTO done VALUES ('T1');
    COMMIT;
T2: BEGIN;
    SELECT n FROM counter WHERE id = 1 \gset
    UPDATE counter SET n = :n + 1 WHERE id = 1;
    INSERT INTO done VALUES ('T2');
    COMMIT;
-- Every committed increment counts (a session the database refused committed nothing).
check: SELECT n = (SELECT count(*) FROM done) FROM counter WHERE id = 1;
