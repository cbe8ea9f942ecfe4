-- Recorded calls (issue 7): a flow's route or queue may record the conversation
-- (an ARI bridge recording). The call's row names its recording; the recording's
-- row, written once our copy of the WAV is stored, says where it is.
ALTER TABLE calls ADD COLUMN recording text;  -- recordings.id; NULL: not recorded

CREATE TABLE recordings (
    id          text PRIMARY KEY,            -- the recording's name (unique per call)
    call_id     text NOT NULL,               -- calls.id (no foreign key: either row may come first)
    started_at  timestamptz,                 -- when the call started
    stored_at   timestamptz NOT NULL DEFAULT now(),
    duration_s  real NOT NULL,               -- of the WAV
    file        text NOT NULL,               -- path of the WAV file
    size_bytes  bigint NOT NULL
);
CREATE INDEX recordings_call ON recordings (call_id);
