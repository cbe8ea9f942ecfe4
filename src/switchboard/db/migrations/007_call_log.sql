-- The call log (issue 7): one row per call, one per phone rung. Written from a
-- spool on local disk, so a call that ends while PostgreSQL is away is not lost.
CREATE TABLE calls (
    id            text PRIMARY KEY,          -- the caller's channel id
    dialed        text NOT NULL,             -- the company number
    caller        text NOT NULL,             -- the caller ID as received
    customer      bigint,                    -- customers.id, if known (no foreign key: kept if deleted)
    flow          text NOT NULL,
    flow_version  text NOT NULL,
    started_at    timestamptz NOT NULL,
    answered_at   timestamptz,               -- when an agent or number took the call
    ended_at      timestamptz NOT NULL,
    wait_s        real,                      -- start to answer (answered calls)
    talk_s        real,                      -- answer to end (answered calls)
    answered_by   text NOT NULL DEFAULT '',  -- the endpoint or number that answered
    agent         text NOT NULL DEFAULT '',  -- the agent, for routes to agents
    outcome       text NOT NULL,             -- answered, abandoned, abandoned_in_queue, voicemail, ...
    route_result  text NOT NULL DEFAULT '',  -- why the last route failed
    path          jsonb NOT NULL             -- the nodes, in order
);
CREATE INDEX calls_started ON calls (started_at);

CREATE TABLE call_legs (
    call_id  text NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq      integer NOT NULL,               -- in the order they ended
    target   text NOT NULL,                  -- endpoint or E.164 number (or "agents")
    result   text NOT NULL,                  -- answered, no_answer, busy, unregistered, ...
    PRIMARY KEY (call_id, seq)
);
