-- Outbound campaigns: one target per phone number, one row per call attempt, each written
-- before its side effect so a crash never loses a target nor calls anyone twice.

CREATE TABLE campaigns (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL,
    kind           text NOT NULL CHECK (kind IN
                     ('outage_ack', 'etr_update', 'restoration', 'planned_notice', 'custom')),
    state          text NOT NULL DEFAULT 'draft' CHECK (state IN
                     ('draft', 'running', 'paused', 'completed', 'cancelled')),
    -- The request as accepted (audience, message, retry policy...), canonical JSON.
    spec           jsonb NOT NULL,
    outage_id      bigint REFERENCES outages (id),
    cps            double precision NOT NULL CHECK (cps > 0),
    max_concurrent integer NOT NULL CHECK (max_concurrent > 0),
    window_opens   time NOT NULL,
    window_closes  time NOT NULL,
    urgent         boolean NOT NULL DEFAULT false,
    priority       integer NOT NULL DEFAULT 0,
    starts_at      timestamptz,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz
);
CREATE INDEX campaigns_active_idx ON campaigns (priority DESC, id) WHERE state = 'running';

CREATE TABLE campaign_targets (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key: targets are written with their campaign in one transaction, and a
    -- per-row key check was a fifth of the time to plan a million targets.
    campaign_id     bigint NOT NULL,
    phone           text COLLATE "C" NOT NULL,
    account_numbers text[] NOT NULL,
    premise_ids     text[] NOT NULL,
    language        text NOT NULL,
    timezone        text NOT NULL,
    -- pending: waiting for its turn (next_attempt_at); calling: an attempt is live;
    -- done: finished with an outcome; excluded: never called (reason in outcome).
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN
                      ('pending', 'calling', 'done', 'excluded')),
    outcome         text,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    updated_at      timestamptz NOT NULL
    -- One row per phone per campaign comes from the GROUP BY that builds them; a unique
    -- index would only re-check it at a third of the insert's cost.
);
CREATE INDEX campaign_targets_campaign_idx ON campaign_targets (campaign_id, state);
CREATE INDEX campaign_targets_due_idx ON campaign_targets (campaign_id, next_attempt_at, id)
    WHERE state = 'pending';

CREATE TABLE call_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target_id    bigint NOT NULL REFERENCES campaign_targets (id) ON DELETE CASCADE,
    campaign_id  bigint NOT NULL,
    attempt_no   integer NOT NULL,
    phone        text COLLATE "C" NOT NULL,
    -- placing: committed, REST call not yet answered (in doubt after a crash);
    -- then the carrier's statuses, which only move forward; not_placed: the carrier
    -- refused or never saw it (the target was not called).
    status       text NOT NULL DEFAULT 'placing',
    call_sid     text UNIQUE,
    answered_by  text,
    error_code   integer,
    duration_s   integer,
    sequence     integer NOT NULL DEFAULT -1,
    created_at   timestamptz NOT NULL,
    placed_at    timestamptz,
    ended_at     timestamptz
);
-- attempt_no counts calls placed: an attempt the carrier never took (not_placed) gives its
-- number back, so the next one may carry the same number.
CREATE INDEX call_attempts_target_idx ON call_attempts (target_id);
CREATE INDEX call_attempts_live_idx ON call_attempts (campaign_id)
    WHERE ended_at IS NULL;
CREATE INDEX call_attempts_placed_idx ON call_attempts (campaign_id, placed_at);

-- A number the carrier called invalid (Twilio 13224, 21211, ...) is left out of later
-- campaigns, with that reason, instead of failing again.
ALTER TABLE phones ADD COLUMN invalid_at timestamptz;
