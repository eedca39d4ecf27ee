-- Each incident's revision moves whenever anything its pages show changes: the incident row,
-- its updates, the components its updates set, the components it affects. The page cache keeps
-- the incidents it has read and re-reads only those whose revision moved (src/render/mod.rs), so
-- a change costs what it changes rather than a read of the whole history. A full read every
-- minute still checks every row's stamp, so a row changed behind these triggers' backs is found.
ALTER TABLE incidents ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

-- SQLite runs no trigger from its own statements (recursive_triggers is off), so this one bumps
-- once per changed row.
CREATE TRIGGER incidents_revision AFTER UPDATE ON incidents
    WHEN NEW.revision = OLD.revision
BEGIN
    UPDATE incidents SET revision = OLD.revision + 1 WHERE id = NEW.id;
END;

CREATE TRIGGER incident_updates_added AFTER INSERT ON incident_updates
BEGIN
    UPDATE incidents SET revision = revision + 1 WHERE id = NEW.incident_id;
END;
CREATE TRIGGER incident_updates_changed AFTER UPDATE ON incident_updates
BEGIN
    UPDATE incidents SET revision = revision + 1 WHERE id IN (OLD.incident_id, NEW.incident_id);
END;
CREATE TRIGGER incident_updates_removed AFTER DELETE ON incident_updates
BEGIN
    UPDATE incidents SET revision = revision + 1 WHERE id = OLD.incident_id;
END;

CREATE TRIGGER update_components_added AFTER INSERT ON update_components
BEGIN
    UPDATE incidents SET revision = revision + 1
        WHERE id = (SELECT incident_id FROM incident_updates WHERE id = NEW.update_id);
END;
CREATE TRIGGER update_components_changed AFTER UPDATE ON update_components
BEGIN
    UPDATE incidents SET revision = revision + 1
        WHERE id IN (SELECT incident_id FROM incident_updates WHERE id IN (OLD.update_id, NEW.update_id));
END;
CREATE TRIGGER update_components_removed AFTER DELETE ON update_components
BEGIN
    UPDATE incidents SET revision = revision + 1
        WHERE id = (SELECT incident_id FROM incident_updates WHERE id = OLD.update_id);
END;

CREATE TRIGGER incident_components_added AFTER INSERT ON incident_components
BEGIN
    UPDATE incidents SET revision = revision + 1 WHERE id = NEW.incident_id;
END;
CREATE TRIGGER incident_components_changed AFTER UPDATE ON incident_components
BEGIN
    UPDATE incidents SET revision = revision + 1 WHERE id IN (OLD.incident_id, NEW.incident_id);
END;
CREATE TRIGGER incident_components_removed AFTER DELETE ON incident_components
BEGIN
    UPDATE incidents SET revision = revision + 1 WHERE id = OLD.incident_id;
END;

-- The status history's revision moves with any change to it, so the page cache reads the
-- history again only when it changed.
CREATE TABLE status_log_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO status_log_revision (id, revision) VALUES (1, 0);
CREATE TRIGGER status_log_added AFTER INSERT ON component_status_log
BEGIN
    UPDATE status_log_revision SET revision = revision + 1;
END;
CREATE TRIGGER status_log_changed AFTER UPDATE ON component_status_log
BEGIN
    UPDATE status_log_revision SET revision = revision + 1;
END;
CREATE TRIGGER status_log_removed AFTER DELETE ON component_status_log
BEGIN
    UPDATE status_log_revision SET revision = revision + 1;
END;
