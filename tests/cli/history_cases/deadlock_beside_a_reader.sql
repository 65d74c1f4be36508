-- two sessions deadlock on the server while a third can still run, and then ends
setup: CREATE TABLE t(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO t VALUES (1, 0), (2, 0);
T1: BEGIN;
    INSERT INTO t VALUES (1, 1) ON CONFLICT (k) DO UPDATE SET v = t.v + 1;
    INSERT INTO t VALUES (2, 1) ON CONFLICT (k) DO UPDATE SET v = t.v + 1;
    COMMIT;
T2: BEGIN;
    INSERT INTO t VALUES (2, 1) ON CONFLICT (k) DO UPDATE SET v = t.v + 1;
    INSERT INTO t VALUES (1, 1) ON CONFLICT (k) DO UPDATE SET v = t.v + 1;
    COMMIT;
T3: SELECT * FROM t;
