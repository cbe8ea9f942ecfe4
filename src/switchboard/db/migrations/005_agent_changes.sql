-- What changed since a daemon last read the agents into memory (issue 6).
--
-- A daemon keeps every logged-in agent in memory to rank without a round trip,
-- and re-reads only the agents whose row changed since its last read
-- (changed_at), in full only when who they are changed (profile_at: set by the
-- import; skills, phones, languages) or an agent logged in.

-- Any change to the row (state, calls, wrap-up, import): set by the trigger below.
ALTER TABLE agents ADD COLUMN changed_at timestamptz NOT NULL DEFAULT clock_timestamp();
-- Who the agent is (name, site, phones, languages, level, capacity, skills): set by
-- `switchboard import agents`.
ALTER TABLE agents ADD COLUMN profile_at timestamptz NOT NULL DEFAULT clock_timestamp();

CREATE FUNCTION agents_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_at := clock_timestamp();
    RETURN NEW;
END
$$;
-- Not indexed: an index would stop PostgreSQL's cheap in-place (HOT) updates on
-- every reservation; reading 10,000 rows' changed_at every 2 s costs ~1 ms.
CREATE TRIGGER agents_touch BEFORE UPDATE ON agents FOR EACH ROW EXECUTE FUNCTION agents_touch();
