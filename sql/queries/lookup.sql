-- name: status_lookup
-- The outage line's hot path: one statement, one round trip. $1 says which key $2 is;
-- the branches that do not apply are cut by one-time filters before touching any table.
WITH matched AS (
    SELECT ap.account_number FROM account_phones ap
    WHERE $1::text = 'phone' AND ap.e164 = $2
    UNION
    SELECT a.account_number FROM accounts a
    WHERE $1::text = 'account' AND a.account_number = $2
    UNION
    SELECT a.account_number FROM accounts a
    WHERE $1::text = 'premise' AND a.premise_id = $2
)
SELECT a.account_number, a.name,
       p.premise_id, p.service_address, p.feeder_id, p.timezone, p.language,
       o.oms_id, o.status, o.cause, o.crew_status, o.etr, o.planned, o.starts_at, o.ends_at,
       o.updated_at, o.customers_affected
FROM matched m
JOIN accounts a ON a.account_number = m.account_number
JOIN premises p ON p.premise_id = a.premise_id
LEFT JOIN LATERAL (
    -- An unplanned outage outranks planned work; among equals the latest news wins.
    SELECT o.* FROM (
        SELECT op.outage_id FROM outage_premises op WHERE op.premise_id = p.premise_id
        UNION
        SELECT f.outage_id FROM outage_feeders f WHERE f.feeder_id = p.feeder_id
    ) covering
    JOIN outages o ON o.id = covering.outage_id AND o.active
    ORDER BY o.planned, o.updated_at DESC
    LIMIT 1
) o ON true
ORDER BY (o.oms_id IS NULL), a.account_number
LIMIT $3;
