-- name: ivr_active_outage_for_premise
SELECT o.id FROM outages o
WHERE o.active AND (
    o.id IN (SELECT op.outage_id FROM outage_premises op WHERE op.premise_id = $1)
    OR o.id IN (SELECT f.outage_id FROM outage_feeders f
                JOIN premises p ON p.feeder_id = f.feeder_id WHERE p.premise_id = $1)
)
ORDER BY o.planned, o.updated_at DESC
LIMIT 1;

-- name: ivr_report_insert
INSERT INTO outage_reports
    (kind, premise_id, account_number, outage_id, phone, call_sid, source, created_at, dedupe_key)
VALUES ($1, $2, $3, $4, $5, $6, 'ivr', $7, $8)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: ivr_report_for_call
SELECT EXISTS (SELECT FROM outage_reports WHERE call_sid = $1 AND kind = $2);

-- name: ivr_callback_insert
INSERT INTO callback_requests
    (phone, premise_id, account_number, outage_id, language, call_sid, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING;
