-- One subscriber per inbox, whatever the case of its address: `Sub1@Example.com` and
-- `sub1@example.com` reach the same inbox, which would otherwise get every notice twice.
-- Sign-up, import and the API already compare lower(email); this index makes a second row
-- impossible even when two sign-ups race. Rows from before that differ only in case are
-- folded into the oldest, which keeps its confirmation and component choices.
DELETE FROM subscribers WHERE EXISTS (
    SELECT 1 FROM subscribers AS older
    WHERE lower(older.email) = lower(subscribers.email) AND older.id < subscribers.id
);
CREATE UNIQUE INDEX subscribers_email_lower ON subscribers (lower(email));
