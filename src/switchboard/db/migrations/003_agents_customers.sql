-- Sites, agents with skills, customers (CRM) and agent reservations (issue 6).

CREATE TABLE sites (
    id        text PRIMARY KEY,
    name      text NOT NULL,
    zone      text NOT NULL,                 -- IANA time zone of the site
    calendar  text NOT NULL DEFAULT ''       -- the flows' calendar that says when it is open
);

CREATE TABLE agents (
    id                  text PRIMARY KEY,
    name                text NOT NULL,
    site                text REFERENCES sites (id),
    endpoints           text[] NOT NULL,     -- e.g. {PJSIP/101}: rung at once
    languages           text[] NOT NULL DEFAULT '{}',
    level               text NOT NULL DEFAULT 'regular'
                        CHECK (level IN ('trainee', 'regular', 'senior')),
    max_calls           integer NOT NULL DEFAULT 1 CHECK (max_calls >= 1),
    -- calls offered or in progress (reservations not yet released): never above max_calls
    active              integer NOT NULL DEFAULT 0 CHECK (active >= 0),
    state               text NOT NULL DEFAULT 'logged_out'
                        CHECK (state IN ('logged_out', 'available', 'on_call', 'wrap_up', 'paused')),
    pause_reason        text NOT NULL DEFAULT '',
    state_since         timestamptz NOT NULL DEFAULT now(),
    wrap_up_s           integer NOT NULL DEFAULT 10 CHECK (wrap_up_s >= 0),
    last_call_ended_at  timestamptz,         -- longest idle first
    calls_today         integer NOT NULL DEFAULT 0,
    missed_in_row       integer NOT NULL DEFAULT 0,
    CHECK (active <= max_calls)
);
CREATE INDEX agents_available ON agents (state) WHERE state = 'available';

CREATE TABLE agent_skills (
    agent        text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    skill        text NOT NULL,
    proficiency  smallint NOT NULL CHECK (proficiency BETWEEN 1 AND 5),
    PRIMARY KEY (agent, skill)
);
CREATE INDEX agent_skills_by_skill ON agent_skills (skill, proficiency DESC, agent);

-- A reservation holds an agent for one call: made atomically with agents.active,
-- renewed while the call lasts, and freed on release or when its lease runs out
-- (a crashed daemon's agents come back by themselves).
CREATE TABLE reservations (
    agent        text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    call_id      text NOT NULL,
    daemon       text NOT NULL,
    reserved_at  timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (agent, call_id)
);
CREATE INDEX reservations_expiry ON reservations (expires_at);
CREATE INDEX reservations_call ON reservations (call_id);

CREATE TABLE customers (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL DEFAULT '',
    segment         text NOT NULL DEFAULT 'regular'
                    CHECK (segment IN ('vip', 'regular', 'new', 'occasional')),
    language        text NOT NULL DEFAULT '',
    products        text[] NOT NULL DEFAULT '{}',
    owner_agent     text REFERENCES agents (id) ON DELETE SET NULL,
    lifetime_value  numeric(14, 2) NOT NULL DEFAULT 0,
    churn_score     real NOT NULL DEFAULT 0 CHECK (churn_score BETWEEN 0 AND 1),
    first_contact   timestamptz,
    last_contact    timestamptz,
    notes           text NOT NULL DEFAULT ''
);

-- Phone numbers in E.164 (normalized on write and on lookup); several per customer.
CREATE TABLE customer_phones (
    phone     text PRIMARY KEY CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    customer  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE
);
CREATE INDEX customer_phones_customer ON customer_phones (customer);
