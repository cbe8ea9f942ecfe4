-- Agent states (issue 6b): on call, wrap-up and missed-call penalties.
--
-- An agent is offered a call ("offerable") when
--     state NOT IN ('logged_out', 'paused') AND active < max_calls
--     AND (not_before IS NULL OR not_before <= now())
-- so on_call (a second line) and wrap_up (once its end has passed, even before
-- finish_wrap_up() flips the state) are offerable too.

-- The agent is not offered a call before this instant: the end of their wrap-up
-- after a conversation, or of the penalty after a missed offer. NULL: no wait.
ALTER TABLE agents ADD COLUMN not_before timestamptz;

-- finish_wrap_up() runs every second or two: it reads only the agents in wrap-up.
CREATE INDEX agents_wrapping_up ON agents (not_before) WHERE state = 'wrap_up';

-- "Anyone with the language, longest idle first" walks the offerable agents in
-- idle order and stops after a handful. It replaces the index on
-- state = 'available', which offerable agents in other states no longer fit.
DROP INDEX agents_available;
CREATE INDEX agents_offerable_by_idle ON agents (last_call_ended_at ASC NULLS FIRST)
    WHERE state NOT IN ('logged_out', 'paused');
