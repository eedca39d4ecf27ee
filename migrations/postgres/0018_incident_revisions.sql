-- Each incident's revision moves whenever anything its pages show changes: the incident row,
-- its updates, the components its updates set, the components it affects. The page cache keeps
-- the incidents it has read and re-reads only those whose revision moved (src/render/mod.rs), so
-- a change costs what it changes rather than a read of the whole history. A full read every
-- minute still checks every row's stamp, so a row changed behind these triggers' backs is found.
ALTER TABLE incidents ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION herald_incident_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END;
$$;
CREATE TRIGGER incidents_revision BEFORE UPDATE ON incidents
    FOR EACH ROW EXECUTE FUNCTION herald_incident_revision();

-- A change to a row that belongs to an incident moves that incident's revision (both the old
-- and the new incident, for a row that moved).
CREATE FUNCTION herald_touch_incident() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'update_components' THEN
        IF TG_OP <> 'DELETE' THEN
            UPDATE incidents SET revision = revision + 1
                WHERE id = (SELECT incident_id FROM incident_updates WHERE id = NEW.update_id);
        END IF;
        IF TG_OP <> 'INSERT' THEN
            UPDATE incidents SET revision = revision + 1
                WHERE id = (SELECT incident_id FROM incident_updates WHERE id = OLD.update_id);
        END IF;
    ELSE
        IF TG_OP <> 'DELETE' THEN
            UPDATE incidents SET revision = revision + 1 WHERE id = NEW.incident_id;
        END IF;
        IF TG_OP <> 'INSERT' THEN
            UPDATE incidents SET revision = revision + 1 WHERE id = OLD.incident_id;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER incident_updates_revision AFTER INSERT OR UPDATE OR DELETE ON incident_updates
    FOR EACH ROW EXECUTE FUNCTION herald_touch_incident();
CREATE TRIGGER update_components_revision AFTER INSERT OR UPDATE OR DELETE ON update_components
    FOR EACH ROW EXECUTE FUNCTION herald_touch_incident();
CREATE TRIGGER incident_components_revision AFTER INSERT OR UPDATE OR DELETE ON incident_components
    FOR EACH ROW EXECUTE FUNCTION herald_touch_incident();

-- The status history's revision moves with any change to it, so the page cache reads the
-- history again only when it changed.
CREATE TABLE status_log_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO status_log_revision (id, revision) VALUES (1, 0);
CREATE FUNCTION herald_touch_status_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE status_log_revision SET revision = revision + 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER status_log_revision AFTER INSERT OR UPDATE OR DELETE ON component_status_log
    FOR EACH STATEMENT EXECUTE FUNCTION herald_touch_status_log();
