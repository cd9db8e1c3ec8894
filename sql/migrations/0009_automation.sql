-- Outage lifecycle automation: the OMS drives the calls.
--
-- Every change the OMS writes to an outage is recorded in the outbox (outage_events) in the
-- same transaction as the change, and consumed in order on the leader. What the automation
-- knows of each outage (an acknowledgement held for the blink hold, the ETR last announced,
-- the ETR updates sent) is one row per outage, written in the transaction that consumes the
-- event, so a crash or takeover neither loses nor repeats an event's effect.

CREATE TABLE outage_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outage_id   bigint NOT NULL REFERENCES outages (id),
    at          timestamptz NOT NULL,
    -- What changed (domain.automation.OutageChange as JSON): statuses and ETRs before and
    -- after, premises and feeders added and removed.
    change      jsonb NOT NULL,
    consumed_at timestamptz
);
-- Writes to one outage take its row lock, so one outage's events are numbered in the order
-- they were made; events of different outages may commit out of order, and this index finds
-- one committed late.
CREATE INDEX outage_events_waiting_idx ON outage_events (id) WHERE consumed_at IS NULL;
CREATE INDEX outage_events_outage_idx ON outage_events (outage_id, id);

CREATE TABLE outage_automation (
    outage_id  bigint PRIMARY KEY REFERENCES outages (id),
    -- domain.automation.AutomationState as JSON.
    state      jsonb NOT NULL,
    -- The earliest moment something is due for this outage (a held acknowledgement, an ETR
    -- update waiting for the churn cap); NULL when nothing is.
    due_at     timestamptz,
    updated_at timestamptz NOT NULL
);
CREATE INDEX outage_automation_due_idx ON outage_automation (due_at) WHERE due_at IS NOT NULL;

-- The supervisor's rules: one document, merged over the defaults when read.
CREATE TABLE automation_rules (
    id         integer PRIMARY KEY CHECK (id = 1),
    rules      jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL
);

-- What the automation decided for each outage and why, including what it chose not to send
-- (a blink restored within the hold, an ETR change under the threshold, the cap reached).
CREATE TABLE automation_decisions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outage_id   bigint NOT NULL REFERENCES outages (id),
    event_id    bigint,
    at          timestamptz NOT NULL,
    event       text NOT NULL,
    decision    text NOT NULL,
    reason      text,
    campaign_id bigint
);
CREATE INDEX automation_decisions_outage_idx ON automation_decisions (outage_id, id);

-- Campaigns the automation creates are ordinary campaigns that say what started them. One
-- campaign per (event, message): a replayed event finds its campaign instead of making another.
ALTER TABLE campaigns
    ADD COLUMN automatic        boolean NOT NULL DEFAULT false,
    ADD COLUMN trigger_event    text,
    ADD COLUMN trigger_event_id bigint,
    -- Targets are still being written: the campaign calls those already planned and is not
    -- finished before the rest are in.
    ADD COLUMN planning         boolean NOT NULL DEFAULT false,
    -- How an automatic campaign's audience is chosen (services.automation_ports.AutomaticPlan
    -- as JSON), so a plan a dead leader left half written is finished by the next one.
    ADD COLUMN automation_plan  jsonb;
CREATE UNIQUE INDEX campaigns_trigger_idx ON campaigns (trigger_event_id, trigger_event)
    WHERE trigger_event_id IS NOT NULL;
CREATE INDEX campaigns_outage_idx ON campaigns (outage_id, id) WHERE outage_id IS NOT NULL;
CREATE INDEX campaigns_planning_idx ON campaigns (id) WHERE planning;

-- What an answered call told the customer about restoration, for the ETR rules: when it was
-- heard, and the ETR it spoke (NULL: it said there was no estimate yet).
ALTER TABLE campaign_targets
    ADD COLUMN heard_at  timestamptz,
    ADD COLUMN heard_etr timestamptz;
