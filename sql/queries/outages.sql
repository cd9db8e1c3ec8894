-- name: outage_insert_if_missing
INSERT INTO outages (oms_id, status, state, created_at, updated_at)
VALUES ($1, 'reported', '{}'::jsonb, $2, $2)
ON CONFLICT (oms_id) DO NOTHING
RETURNING id;

-- name: outage_lock
-- NO KEY UPDATE: the write changes no key, and a stronger lock would wait on every row that
-- only references the outage (a campaign or a preview being planned for it).
SELECT id, state FROM outages WHERE oms_id = $1 FOR NO KEY UPDATE;

-- name: outage_update
UPDATE outages
SET status = $2, crew_status = $3, cause = $4, etr = $5, planned = $6, starts_at = $7,
    ends_at = $8, state = $9, updated_at = $10,
    restored_at = CASE WHEN $2 = 'restored' THEN coalesce(restored_at, $10) END,
    customers_reported = $11, alternate_starts_at = $12
WHERE id = $1;

-- name: outage_counts_lock_shared
-- Outage writes and the recount after a customer import take turns on the counts: an
-- outage written during an import is counted after it, never against half of it. Taken
-- before the outage row, in the same order as the recount, so the two never deadlock.
SELECT pg_advisory_xact_lock_shared($1);

-- name: outage_customers_count
-- Accounts and premises at the outage's premises or on its feeders (outage_counts, from the
-- feeders' totals: no count over every customer it covers).
UPDATE outages o SET customers_counted = c.accounts, premises_counted = c.premises
FROM outage_counts($1) c
WHERE o.id = $1
  AND (o.customers_counted, o.premises_counted) IS DISTINCT FROM (c.accounts, c.premises);

-- name: outage_customers_recount
-- After a customer import (feeder_counts refreshed first), every active outage; rows whose
-- counts are right are not written.
UPDATE outages o SET customers_counted = c.accounts, premises_counted = c.premises
FROM outages t CROSS JOIN LATERAL outage_counts(t.id) c
WHERE o.id = t.id AND t.active
  AND (o.customers_counted, o.premises_counted) IS DISTINCT FROM (c.accounts, c.premises);

-- name: outage_history_add
-- The state as written, and the outbox: what changed ($5), in the transaction that makes the
-- change, with a wake-up for the automation worker ($6, the channel), which PostgreSQL
-- delivers only if that transaction commits. One statement: the PUT pays no extra round trip.
WITH history AS (
    INSERT INTO outage_history (outage_id, changed_at, actor, state) VALUES ($1, $2, $3, $4)
), added AS (
    INSERT INTO outage_events (outage_id, at, change) VALUES ($1, $2, $5) RETURNING id
)
SELECT pg_notify($6, '') FROM added;

-- name: outage_premises_clear
DELETE FROM outage_premises WHERE outage_id = $1;

-- name: outage_premises_add
INSERT INTO outage_premises (outage_id, premise_id) SELECT $1, unnest($2::text[]);

-- name: outage_feeders_clear
DELETE FROM outage_feeders WHERE outage_id = $1;

-- name: outage_feeders_add
INSERT INTO outage_feeders (outage_id, feeder_id) SELECT $1, unnest($2::text[]);

-- name: audit_add
INSERT INTO audit_log (at, actor, action, entity, entity_id, details) VALUES ($1, $2, $3, $4, $5, $6);

-- name: outage_get
SELECT o.oms_id, o.status, o.cause, o.crew_status, o.etr, o.planned, o.starts_at, o.ends_at,
       o.alternate_starts_at, o.state, o.created_at, o.updated_at, o.restored_at, o.customers_affected,
       o.customers_reported IS NOT NULL AS customers_from_oms,
       o.premises_counted AS affected_premises,
       (SELECT count(*) FROM outage_history h WHERE h.outage_id = o.id) AS history_entries
FROM outages o
WHERE o.oms_id = $1;

-- name: outages_list
SELECT o.oms_id, o.status, o.cause, o.crew_status, o.etr, o.planned, o.starts_at, o.ends_at,
       o.alternate_starts_at, o.state, o.created_at, o.updated_at, o.restored_at, o.customers_affected,
       o.customers_reported IS NOT NULL AS customers_from_oms,
       NULL::bigint AS affected_premises, NULL::bigint AS history_entries
FROM outages o
WHERE ($1::boolean IS NULL OR o.active = $1)
ORDER BY o.updated_at DESC, o.id DESC
LIMIT $2;

-- name: outage_reports_since
SELECT r.id, r.kind, r.premise_id, r.account_number, o.oms_id AS outage_id, r.phone, r.call_sid,
       r.source, r.details, r.created_at
FROM outage_reports r
LEFT JOIN outages o ON o.id = r.outage_id
WHERE r.created_at > $1 AND r.id > $2
ORDER BY r.id
LIMIT $3;
