-- One row per inbound call on the outage line: its path through the menu, its outcome and
-- its duration, for containment reporting. Written in batches off the caller's path.
CREATE TABLE inbound_calls (
    call_sid text COLLATE "C" PRIMARY KEY,
    caller text NOT NULL DEFAULT '',
    account_number text,
    premise_id text,
    language text,
    started_at timestamptz NOT NULL,
    last_step_at timestamptz NOT NULL,
    ended_at timestamptz,
    duration_s integer CHECK (duration_s IS NULL OR duration_s >= 0),
    end_status text,
    path text[] NOT NULL DEFAULT '{}',
    outcome text NOT NULL DEFAULT 'abandoned' CHECK (
        outcome IN ('abandoned', 'self_served', 'reported', 'callback_requested', 'transferred')
    )
);
CREATE INDEX inbound_calls_started_at ON inbound_calls (started_at);
