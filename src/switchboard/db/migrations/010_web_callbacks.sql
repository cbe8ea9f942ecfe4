-- Web callback requests (POST /callbacks): a visitor of the company's web site asks
-- to be called; an agent with the skill is rung first, then the customer.
CREATE TABLE web_callbacks (
    id              text PRIMARY KEY,             -- >= 128 random bits: the status key
    source          text NOT NULL DEFAULT 'web',
    number          text NOT NULL,                -- E.164, validated (countries, types)
    name            text NOT NULL DEFAULT '',
    skill           text NOT NULL,
    client_ip       text NOT NULL DEFAULT '',     -- who asked (after trusted proxies)
    requested_at    timestamptz NOT NULL,
    not_before      timestamptz,                  -- the visitor's preferred time
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'scheduled', 'calling', 'done', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,   -- calls to the customer
    retry_at        timestamptz,
    next_attempt_at timestamptz,
    last_result     text NOT NULL DEFAULT '',
    agent           text NOT NULL DEFAULT '',     -- the agent reserved for the last attempt
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_callbacks_open ON web_callbacks (requested_at)
    WHERE status IN ('pending', 'scheduled', 'calling');
CREATE INDEX web_callbacks_number ON web_callbacks (number, requested_at);
