-- predicate-many-preceders (PMP): one transaction asks the same question twice and gets two answers
-- anomaly: PMP
setup: CREATE TABLE orders(id INTEGER PRIMARY KEY, open INTEGER NOT NULL);
       INSERT INTO orders VALUES (1, 1);
       CREATE TABLE answers(first INTEGER NOT NULL, second INTEGER NOT NULL);
report: BEGIN;
        SELECT count(*) AS first FROM orders WHERE open = 1 \gset
        SELECT count(*) AS second FROM orders WHERE open = 1 \gset
        INSERT INTO answers VALUES (:first, :second);
        COMMIT;
shop: BEGIN;
      INSERT INTO orders VALUES (2, 1);
      COMMIT;
check: SELECT count(*) = 0 FROM answers WHERE first <> second;
