-- phantom (G2, a predicate read): two bookings of one room for the same night, each after checking it was free
-- anomaly: G2
setup: CREATE TABLE bookings(room INTEGER NOT NULL, night TEXT NOT NULL, guest TEXT NOT NULL);
T1: BEGIN;
    SELECT count(*) AS taken FROM bookings WHERE room = 101 AND night = '2026-12-24' \gset
    INSERT INTO bookings SELECT 101, '2026-12-24', 'ann' WHERE :taken = 0;
    COMMIT;
T2: BEGIN;
    SELECT count(*) AS taken FROM bookings WHERE room = 101 AND night = '2026-12-24' \gset
    INSERT INTO bookings SELECT 101, '2026-12-24', 'ben' WHERE :taken = 0;
    COMMIT;
check: SELECT count(*) <= 1 FROM bookings WHERE room = 101 AND night = '2026-12-24';
