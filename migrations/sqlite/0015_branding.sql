-- The admin's branding, over the configuration's (HERALD_PAGE_NAME, HERALD_LOGO_FILE, ...): one
-- row, each NULL column keeping the configured value. The row is stamped like everything else
-- customers see: a row written or edited outside Herald (a phishing link in the header, say)
-- is ignored, the configured branding shows instead, and the wire trips.
CREATE TABLE branding (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    page_name    TEXT,
    accent_color TEXT,
    header_links TEXT,
    footer_text  TEXT,
    logo         BLOB,
    logo_dark    BLOB,
    favicon      BLOB,
    updated_at   TEXT NOT NULL,
    updated_by   TEXT NOT NULL,
    stamp        TEXT
);
