-- Callback requests: a caller who left a queue keeping their place.
CREATE TABLE callbacks (
    id            text PRIMARY KEY,
    queue         text NOT NULL,
    number        text NOT NULL,             -- the caller's number, called back
    dialed        text NOT NULL DEFAULT '',  -- the company number, shown to the caller
    call_id       text NOT NULL DEFAULT '',  -- the call that asked for it
    requested_at  timestamptz NOT NULL,      -- their place in line
    endpoints     text[] NOT NULL,           -- the queue's phones (an agent is rung first)
    strategy      text NOT NULL,
    ring_seconds  integer NOT NULL,
    trunk         text NOT NULL,
    status        text NOT NULL DEFAULT 'pending',  -- pending, done, failed
    attempts      integer NOT NULL DEFAULT 0,
    last_result   text NOT NULL DEFAULT '',
    agent         text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX callbacks_pending ON callbacks (requested_at) WHERE status = 'pending';
