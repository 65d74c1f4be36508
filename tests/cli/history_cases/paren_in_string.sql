-- paren in a string
setup: CREATE TABLE u(k INTEGER PRIMARY KEY, v TEXT NOT NULL);
       INSERT INTO u VALUES (1, 'a)');
T1: UPDATE u SET v = 'b' WHERE k = 1;
T2: SELECT k FROM u WHERE v = 'a)';
