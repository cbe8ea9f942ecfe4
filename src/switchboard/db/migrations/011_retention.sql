-- Retention and erasure (issue 13): the sweeper deletes old rows in batches by
-- time, and erasing a caller finds their rows by number. Indexes only.

-- Old voicemails and recordings, oldest first (keep_days); calls use calls_started.
CREATE INDEX voicemails_recorded ON voicemails (recorded_at, id);
CREATE INDEX recordings_stored ON recordings (stored_at, id);

-- One caller's calls (caller IDs as received, in each form the number may take).
CREATE INDEX calls_caller ON calls (caller);
-- Callback calls to a number: the number is their leg's target. External targets
-- (E.164 numbers) only: the phones of agents are most legs and never needed here.
CREATE INDEX call_legs_external ON call_legs (target) WHERE target LIKE '+%';
