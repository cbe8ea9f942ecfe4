-- Statistics (issue 7): where and how long a caller waited for a person, what became
-- of the call (a category), and when each phone rang and stopped, and whose it was.
ALTER TABLE calls
    ADD COLUMN queue         text NOT NULL DEFAULT '',  -- the first route/queue node where the caller waited ("" never)
    ADD COLUMN queued_at     timestamptz,               -- when that wait began (first offered to a person)
    ADD COLUMN queue_wait_s  real,                      -- from queued_at to the answer, the hang-up or the way on
    ADD COLUMN category      text NOT NULL DEFAULT '';  -- answered, overflowed, abandoned_in_ivr, abandoned_in_queue,
                                                        -- voicemail, callback_requested, ended_by_flow, failed

-- Rows logged before this migration: the category from the outcome alone (a caller
-- who hung up while phones rang was logged "abandoned", as in the IVR).
UPDATE calls SET category = CASE
    WHEN outcome = 'answered' AND answered_by LIKE '+%' AND flow_version <> 'callback' THEN 'overflowed'
    WHEN outcome = 'answered' THEN 'answered'
    WHEN outcome = 'abandoned' THEN 'abandoned_in_ivr'
    WHEN outcome = 'abandoned_in_queue' THEN 'abandoned_in_queue'
    WHEN outcome IN ('voicemail', 'voicemail_dialplan') THEN 'voicemail'
    WHEN outcome = 'callback_requested' THEN 'callback_requested'
    WHEN outcome = 'hangup_by_flow' THEN 'ended_by_flow'
    ELSE 'failed'
END;

ALTER TABLE call_legs
    ADD COLUMN ringing_at  timestamptz,                    -- we asked Asterisk to ring it (NULL: skipped, never rang)
    ADD COLUMN ended_at    timestamptz,                    -- its result was known (answered: the answer)
    ADD COLUMN ring_s      real,                           -- ended_at - ringing_at
    ADD COLUMN agent       text NOT NULL DEFAULT '',       -- the agent whose phone it is (routes to agents)
    ADD COLUMN owner_ring  boolean NOT NULL DEFAULT false; -- the customer's owner's short ring (not a miss)

-- The call log newest first, paged by (started_at, id); ranges of started_at.
DROP INDEX calls_started;
CREATE INDEX calls_started ON calls (started_at, id);
CREATE INDEX call_legs_agent ON call_legs (agent) WHERE agent <> '';
