-- a deadlock's victim is rolled back while it waits: its error is seen before anyone waits again
-- (MariaDB: InnoDB picks A, the lighter transaction; the row A held goes to C, who asked first,
-- and B then waits for C; were A's error and C's row not seen first, every session would look
-- blocked)
setup: CREATE TABLE t(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO t VALUES (1, 0), (2, 0);
A: BEGIN; SELECT * FROM t WHERE k = 1 FOR UPDATE; SELECT * FROM t WHERE k = 2 FOR UPDATE; COMMIT;
B: BEGIN; UPDATE t SET v = v + 1 WHERE k = 2; UPDATE t SET v = v + 1 WHERE k = 1; COMMIT;
C: BEGIN; UPDATE t SET v = v + 10 WHERE k = 1; COMMIT;
check: SELECT v IN (0, 1, 10, 11) FROM t WHERE k = 1;
