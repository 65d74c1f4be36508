-- aborted read (G1a): a reader must never act on a write its writer rolled back
-- anomaly: G1a
setup: CREATE TABLE price(id INTEGER PRIMARY KEY, cents INTEGER NOT NULL);
       INSERT INTO price VALUES (1, 500);
       CREATE TABLE quotes(cents INTEGER NOT NULL);
writer: BEGIN;
        UPDATE price SET cents = 1 WHERE id = 1;
        ROLLBACK;
reader: BEGIN;
        SELECT cents FROM price WHERE id = 1 \gset
        INSERT INTO quotes VALUES (:cents);
        COMMIT;
check: SELECT count(*) = 0 FROM quotes WHERE cents = 1;
