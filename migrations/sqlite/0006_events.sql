-- PostgreSQL's 0006_events adds triggers that NOTIFY every instance of each change. A SQLite
-- database serves a single instance, which hears its own changes directly: nothing to add here.
-- (The file keeps both folders' migrations under the same names.)
SELECT 1;
