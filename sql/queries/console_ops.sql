-- The console's outage-line page and the instances' heartbeat.

-- name: instance_status_upsert
INSERT INTO instance_status
    (instance_id, host, pid, started_at, seen_at, leader, degraded, spool_depth, version,
     webhooks_per_s)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (instance_id) DO UPDATE SET
    seen_at = EXCLUDED.seen_at,
    leader = EXCLUDED.leader,
    degraded = EXCLUDED.degraded,
    spool_depth = EXCLUDED.spool_depth,
    version = EXCLUDED.version,
    webhooks_per_s = EXCLUDED.webhooks_per_s;

-- name: instance_status_delete
DELETE FROM instance_status WHERE instance_id = $1;

-- name: instance_status_seen_since
-- Instances heard from since $1 (the page shows those silent lately apart); rows of
-- instances that stopped without saying so are deleted once older than $2.
WITH forgotten AS (
    DELETE FROM instance_status WHERE seen_at < $2
)
SELECT instance_id, host, pid, started_at, seen_at, leader, degraded, spool_depth, version,
       webhooks_per_s
FROM instance_status
WHERE seen_at >= $1
ORDER BY host, pid, instance_id;

-- name: outage_line_in_ivr
-- Calls in the menu now: not ended, with a step since $1 (a call whose end the carrier never
-- reported stops counting then). The partial index holds only calls not ended.
SELECT count(*) FROM inbound_calls WHERE ended_at IS NULL AND last_step_at >= $1;

-- name: outage_line_containment
-- Calls started since $1 (today) by outcome: today's rows through the started_at index.
SELECT outcome, count(*) AS calls
FROM inbound_calls
WHERE started_at >= $1
GROUP BY outcome;

-- name: outage_line_top_outages
-- The active outages covering the premises of callers since $1, most calls first. A premise
-- on two outages counts for each, as either may be what the caller heard about.
-- From the hour's callers to their premises (by key, in the premises' own collation), never
-- the other way round: the premises table is the whole customer base.
WITH callers AS MATERIALIZED (
    SELECT premise_id COLLATE "C" AS premise_id, count(*) AS calls
    FROM inbound_calls
    WHERE started_at >= $1 AND premise_id IS NOT NULL
    GROUP BY premise_id
)
SELECT o.oms_id, o.status, o.planned, o.etr, o.customers_affected,
       sum(callers.calls)::bigint AS calls
FROM callers
-- LIMIT keeps the lookup a lookup per caller: a subquery with one is never made a join
-- that could read the whole premises table instead.
JOIN LATERAL (
    SELECT pk.premise_id, pk.feeder_id FROM premises pk
    WHERE pk.premise_id = callers.premise_id LIMIT 1
) p ON true
JOIN LATERAL (
    SELECT op.outage_id FROM outage_premises op WHERE op.premise_id = p.premise_id
    UNION
    SELECT f.outage_id FROM outage_feeders f WHERE f.feeder_id = p.feeder_id
) covering ON true
JOIN outages o ON o.id = covering.outage_id AND o.active
GROUP BY o.id
ORDER BY calls DESC, o.oms_id
LIMIT $2;
