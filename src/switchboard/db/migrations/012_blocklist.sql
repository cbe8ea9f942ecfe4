-- The blocklist: numbers (E.164) and prefixes ("+7495*") that a flow with a
-- blocklist: section sends to a node of its own. Every change bumps
-- blocklist_version (a statement trigger), which the daemons poll to read the
-- list again (switchboard.blocklist.live).
CREATE TABLE blocklist (
    pattern   text PRIMARY KEY CHECK (pattern ~ '^\+[1-9][0-9]{0,14}\*?$'),
    reason    text NOT NULL DEFAULT '',
    added_by  text NOT NULL DEFAULT '',
    added_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE blocklist_version (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint NOT NULL
);
INSERT INTO blocklist_version VALUES (true, 0);
CREATE FUNCTION blocklist_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE blocklist_version SET version = version + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER blocklist_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON blocklist
    FOR EACH STATEMENT EXECUTE FUNCTION blocklist_changed();
