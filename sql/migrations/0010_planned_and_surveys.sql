-- Planned work from notice to all-clear, and a survey after an outage.
--
-- Planned work gets a schedule of messages (a notice days ahead, a reminder the day before,
-- an all-clear at its end...) kept here, one row per message, so a restart, a takeover or a
-- server down at the due minute neither loses nor doubles one: the leader's tick turns due
-- rows into campaigns named by the row (a replay finds the campaign), and a tick that was
-- missed is caught up by the next. The survey after a restoration is a row of the same
-- schedule.

-- The OMS's bad-weather date for planned work (same duration as the work).
ALTER TABLE outages ADD COLUMN alternate_starts_at timestamptz;

ALTER TABLE campaigns DROP CONSTRAINT campaigns_kind_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_kind_check CHECK (kind IN
    ('outage_ack', 'etr_update', 'restoration', 'planned_notice', 'custom', 'survey'));
-- No call is placed at or after this moment (a notice once the work has started is no
-- notice); the targets still pending then are excluded as `expired`.
ALTER TABLE campaigns ADD COLUMN expires_at timestamptz;
CREATE INDEX campaigns_expiring_idx ON campaigns (expires_at)
    WHERE expires_at IS NOT NULL AND state IN ('running', 'paused');

-- Survey opt-out is its own message class: a customer who stops surveys still hears about
-- outages.
ALTER TABLE phones ADD COLUMN survey_opted_out_at timestamptz;

CREATE TABLE outage_schedule (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outage_id    bigint NOT NULL REFERENCES outages (id),
    -- domain.planned.PlannedMessage's value, or 'survey'.
    message      text NOT NULL,
    -- The outbox event that scheduled it: a replayed event schedules nothing twice, and a
    -- move schedules afresh under its own event.
    generation   bigint NOT NULL,
    -- domain.planned.Audience: everyone on the work, those told, or premises added.
    audience     text NOT NULL,
    premises     text[] NOT NULL DEFAULT '{}',
    feeders      text[] NOT NULL DEFAULT '{}',
    due_at       timestamptz NOT NULL,
    -- Calls are placed from window_open and not after window_close (the campaign expires).
    window_open  timestamptz NOT NULL,
    window_close timestamptz NOT NULL,
    -- What the message speaks of, as scheduled: the work's times (and, for a move, the
    -- times first told), whether the OMS said restored. JSON, read by services.
    details      jsonb NOT NULL DEFAULT '{}',
    -- pending: waiting for its due time; made: its campaign exists; withdrawn: a change to
    -- the work took it back; expired: due past its window (a server down for days).
    state        text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'made', 'withdrawn', 'expired')),
    campaign_id  bigint REFERENCES campaigns (id),
    reason       text,
    created_at   timestamptz NOT NULL,
    decided_at   timestamptz,
    UNIQUE (outage_id, message, generation)
);
CREATE INDEX outage_schedule_due_idx ON outage_schedule (due_at) WHERE state = 'pending';
CREATE INDEX outage_schedule_outage_idx ON outage_schedule (outage_id, id);

-- Survey definitions a supervisor added; the built-in default (domain.survey.DEFAULT_SURVEY)
-- is not stored.
CREATE TABLE surveys (
    id         text PRIMARY KEY,
    definition jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL
);

-- Each answer as it is given, so a caller who hangs up halfway leaves the answers they gave.
CREATE TABLE survey_answers (
    attempt_id  bigint NOT NULL REFERENCES call_attempts (id) ON DELETE CASCADE,
    question    text NOT NULL,
    campaign_id bigint NOT NULL,
    -- A scale's 1 to 5; yes 1, no 0.
    value       integer NOT NULL,
    answered_at timestamptz NOT NULL,
    PRIMARY KEY (attempt_id, question)
);
CREATE INDEX survey_answers_campaign_idx ON survey_answers (campaign_id);

-- A recorded comment: the carrier's recording, fetched and kept as audio.
CREATE TABLE survey_comments (
    attempt_id     bigint NOT NULL REFERENCES call_attempts (id) ON DELETE CASCADE,
    question       text NOT NULL,
    campaign_id    bigint NOT NULL,
    recording_url  text NOT NULL,
    duration_s     integer NOT NULL,
    recorded_at    timestamptz NOT NULL,
    audio          bytea,
    content_type   text,
    fetched_at     timestamptz,
    fetch_attempts integer NOT NULL DEFAULT 0,
    PRIMARY KEY (attempt_id, question)
);
CREATE INDEX survey_comments_campaign_idx ON survey_comments (campaign_id);
CREATE INDEX survey_comments_unfetched_idx ON survey_comments (recorded_at)
    WHERE audio IS NULL;

-- "Would you like someone to call you back": the list a supervisor works through.
CREATE TABLE survey_callbacks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    attempt_id      bigint NOT NULL UNIQUE REFERENCES call_attempts (id) ON DELETE CASCADE,
    campaign_id     bigint NOT NULL,
    outage_id       bigint REFERENCES outages (id),
    phone           text COLLATE "C" NOT NULL,
    account_numbers text[] NOT NULL,
    requested_at    timestamptz NOT NULL,
    handled_at      timestamptz,
    handled_by      text
);
CREATE INDEX survey_callbacks_open_idx ON survey_callbacks (requested_at) WHERE handled_at IS NULL;

-- A survey's sample, as domain.survey.in_sample draws it (the same number in or out on every
-- instance and every replay): the first 8 bytes of sha256(salt, outage id, NUL, number) read
-- as an unsigned integer, below share * 2^64. The bound is compared exactly as Python compares
-- an integer with a float: share * 2^64 is exact in float8 (a power of two), and an integer is
-- below it when it is below its ceiling, an integer float8 turns into bigint exactly (halved
-- first above 2^63, where every float8 is even).
CREATE FUNCTION survey_sample_bound(share double precision) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN share * 18446744073709551616.0::float8 >= 9223372036854775808.0::float8
            THEN ceil(share * 9223372036854775808.0::float8)::bigint::numeric * 2
        ELSE ceil(share * 18446744073709551616.0::float8)::bigint::numeric
    END
$$;

CREATE FUNCTION survey_sample_point(phone text, outage_id text) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN h < 0 THEN h::numeric + 18446744073709551616 ELSE h::numeric END
    FROM (SELECT ('x' || encode(substr(sha256(
              convert_to('outage-voice survey sample v1', 'UTF8') || '\x00'::bytea
              || convert_to(outage_id, 'UTF8') || '\x00'::bytea || convert_to(phone, 'UTF8')
          ), 1, 8), 'hex'))::bit(64)::bigint AS h) d
$$;

CREATE FUNCTION survey_in_sample(phone text, outage_id text, share double precision)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN share <= 0 THEN false
                WHEN share >= 1 THEN true
                ELSE survey_sample_point(phone, outage_id) < survey_sample_bound(share) END
$$;
