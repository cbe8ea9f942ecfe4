-- Voicemail messages: one row per message, written once the audio is stored.
CREATE TABLE voicemails (
    id            text PRIMARY KEY,          -- the recording's name (unique per call)
    call_id       text NOT NULL,             -- the caller's channel id
    mailbox       text NOT NULL,
    caller        text NOT NULL DEFAULT '',  -- caller ID number as received
    dialed        text NOT NULL DEFAULT '',  -- the number the caller dialed
    started_at    timestamptz,               -- when the call arrived
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    duration_s    real NOT NULL,
    file          text NOT NULL,             -- path of the WAV file
    size_bytes    bigint NOT NULL,
    emailed_to    text NOT NULL DEFAULT '',
    emailed_at    timestamptz,               -- NULL: not (yet) emailed
    email_attempts integer NOT NULL DEFAULT 0,
    email_error   text NOT NULL DEFAULT '',
    heard_at      timestamptz
);
CREATE INDEX voicemails_mailbox_recorded ON voicemails (mailbox, recorded_at DESC);
CREATE INDEX voicemails_not_emailed ON voicemails (recorded_at) WHERE emailed_at IS NULL;
