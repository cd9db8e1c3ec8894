-- How many customers an outage affects, known where callers and campaigns need it.
-- A customer is an account (what a utility reports as "customers out"): a premise with two
-- accounts counts twice. The count is kept on the outage row so the outage line's lookup
-- reads it with the outage and never counts per call: it is set when the OMS changes the
-- outage's premises or feeders, and again after a customer import changes accounts.
-- The OMS may send its own figure (`customers_affected`), which is then the one spoken.

ALTER TABLE outages
    ADD COLUMN customers_counted integer,
    ADD COLUMN customers_reported integer CHECK (customers_reported >= 0),
    ADD COLUMN customers_affected integer
        GENERATED ALWAYS AS (coalesce(customers_reported, customers_counted)) STORED;

UPDATE outages o SET customers_counted = (
    SELECT count(*) FROM accounts a
    WHERE a.premise_id IN (
        SELECT op.premise_id FROM outage_premises op WHERE op.outage_id = o.id
        UNION
        SELECT p.premise_id FROM outage_feeders f
        JOIN premises p ON p.feeder_id = f.feeder_id
        WHERE f.outage_id = o.id
    )
);
