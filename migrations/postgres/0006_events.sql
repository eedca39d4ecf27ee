-- Every instance hears every change: each statement that changes what the public pages show,
-- queues deliveries or flips the kill switch sends a notification on `herald_events` (see
-- src/store/events.rs). NOTIFY is transactional: listeners get it when the change commits, never
-- for one rolled back, and repeats within one transaction arrive once. Statement-level, so a
-- fan-out chunk of 10,000 deliveries sends one notification, not 10,000.
CREATE FUNCTION herald_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald_events', TG_ARGV[0]);
    RETURN NULL;
END;
$$;

CREATE TRIGGER components_changed AFTER INSERT OR UPDATE OR DELETE ON components
    FOR EACH STATEMENT EXECUTE FUNCTION herald_notify('pages');
CREATE TRIGGER incidents_changed AFTER INSERT OR UPDATE OR DELETE ON incidents
    FOR EACH STATEMENT EXECUTE FUNCTION herald_notify('pages');
CREATE TRIGGER incident_components_changed AFTER INSERT OR UPDATE OR DELETE ON incident_components
    FOR EACH STATEMENT EXECUTE FUNCTION herald_notify('pages');
CREATE TRIGGER incident_updates_changed AFTER INSERT OR UPDATE OR DELETE ON incident_updates
    FOR EACH STATEMENT EXECUTE FUNCTION herald_notify('pages');
CREATE TRIGGER update_components_changed AFTER INSERT OR UPDATE OR DELETE ON update_components
    FOR EACH STATEMENT EXECUTE FUNCTION herald_notify('pages');

-- Only new work wakes workers: outcomes written back (UPDATE) are not news to anyone.
CREATE TRIGGER deliveries_queued AFTER INSERT ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION herald_notify('deliveries');
CREATE TRIGGER fanouts_queued AFTER INSERT ON fanouts
    FOR EACH STATEMENT EXECUTE FUNCTION herald_notify('deliveries');

CREATE TRIGGER outbound_switched AFTER UPDATE ON outbound
    FOR EACH STATEMENT EXECUTE FUNCTION herald_notify('switch');
