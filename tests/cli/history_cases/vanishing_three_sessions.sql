-- three sessions, two writers: when W1's autocommit update (its own transaction) answers, it can
-- free W2's parked update inside the server (a regression case of the MariaDB settle; the shipped
-- OTV case is lab/sqlcase/cases/vanishing.sql)
setup: CREATE TABLE kv(k VARCHAR(16) PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO kv VALUES ('x', 0), ('y', 0);
       CREATE TABLE seen(x INTEGER NOT NULL, y INTEGER NOT NULL);
-- Each writer counts both rows up, so a row's value says how many writers it has seen: W1 in one
-- statement, W2 one row at a time in a transaction of its own.
W1: UPDATE kv SET v = v + 1;
W2: BEGIN;
    UPDATE kv SET v = v + 1 WHERE k = 'x';
    UPDATE kv SET v = v + 1 WHERE k = 'y';
    COMMIT;
reader: SELECT v AS x FROM kv WHERE k = 'x' \gset
        INSERT INTO seen SELECT :x, v FROM kv WHERE k = 'y';
-- Having seen a writer's x, the reader must see its y too (or a later one): never an older y.
check: SELECT count(*) = 0 FROM seen WHERE y < x;
