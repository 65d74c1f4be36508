-- read skew (G-single): a report reads two accounts while a transfer moves money between them
-- anomaly: G-single
setup: CREATE TABLE accounts(id VARCHAR(16) PRIMARY KEY, balance INTEGER NOT NULL);
       INSERT INTO accounts VALUES ('x', 50), ('y', 50);
       CREATE TABLE reports(total INTEGER NOT NULL);
report: BEGIN;
        SELECT balance AS x FROM accounts WHERE id = 'x' \gset
        SELECT balance AS y FROM accounts WHERE id = 'y' \gset
        INSERT INTO reports VALUES (:x + :y);
        COMMIT;
transfer: BEGIN;
          UPDATE accounts SET balance = balance - 10 WHERE id = 'x';
          UPDATE accounts SET balance = balance + 10 WHERE id = 'y';
          COMMIT;
-- The report saw one state of the books: the money it counted is all the money there is.
check: SELECT count(*) = 0 FROM reports WHERE total <> 100;
