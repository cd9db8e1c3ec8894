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

-- Premises and accounts per feeder, kept by the customer import: an outage's counts are then
-- sums over its feeders plus its premises on none of them, not a count of every premise and
-- account it covers on each OMS write (a quarter of a second per 100,000 customers, twice:
-- the PUT counted customers, and answered with a count of premises).
CREATE TABLE feeder_counts (
    feeder_id text COLLATE "C" PRIMARY KEY,
    premises  integer NOT NULL,
    accounts  integer NOT NULL
);
INSERT INTO feeder_counts (feeder_id, premises, accounts)
SELECT p.feeder_id, count(DISTINCT p.premise_id), count(a.account_number)
FROM premises p LEFT JOIN accounts a ON a.premise_id = p.premise_id
WHERE p.feeder_id IS NOT NULL
GROUP BY p.feeder_id;

-- An outage's accounts and premises, each once: its feeders' totals, and its own premises on
-- none of its feeders. One definition for the count on each OMS write and the recount after
-- an import.
CREATE FUNCTION outage_counts(outage bigint, OUT accounts integer, OUT premises integer)
LANGUAGE sql STABLE AS $$
    SELECT (SELECT coalesce(sum(fc.accounts), 0) FROM outage_feeders f
            JOIN feeder_counts fc ON fc.feeder_id = f.feeder_id
            WHERE f.outage_id = outage)::integer + own.accounts,
           (SELECT coalesce(sum(fc.premises), 0) FROM outage_feeders f
            JOIN feeder_counts fc ON fc.feeder_id = f.feeder_id
            WHERE f.outage_id = outage)::integer + own.premises
    FROM (
        SELECT count(a.account_number)::integer AS accounts,
               count(DISTINCT p.premise_id)::integer AS premises
        FROM outage_premises op
        JOIN premises p ON p.premise_id = op.premise_id
        LEFT JOIN accounts a ON a.premise_id = p.premise_id
        WHERE op.outage_id = outage
          AND (p.feeder_id IS NULL OR p.feeder_id NOT IN (
                SELECT f.feeder_id FROM outage_feeders f WHERE f.outage_id = outage))
    ) own
$$;

ALTER TABLE outages ADD COLUMN premises_counted integer;
UPDATE outages o SET customers_counted = c.accounts, premises_counted = c.premises
FROM outages t CROSS JOIN LATERAL outage_counts(t.id) c
WHERE o.id = t.id;
