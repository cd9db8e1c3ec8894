-- name: inbound_calls_merge
-- One statement per batch: each row is one call's delta; steps append, the outcome only
-- strengthens, the end is kept once known. $10 is the outcome order, weakest first.
-- Returns the calls this batch ended (their end known now and not before), as recorded:
-- each is counted once when it ends.
WITH ended_before AS (
    SELECT call_sid FROM inbound_calls WHERE call_sid = ANY($1::text[]) AND ended_at IS NOT NULL
), merged AS (
INSERT INTO inbound_calls AS c
    (call_sid, caller, started_at, last_step_at, path, outcome, account_number, premise_id,
     language, ended_at, duration_s, end_status)
SELECT d.call_sid, d.caller, d.first_at, d.last_at,
       CASE WHEN d.path = '' THEN '{}'::text[] ELSE string_to_array(d.path, ',') END,
       d.outcome, d.account_number, d.premise_id, d.language, d.ended_at, d.duration_s,
       d.end_status
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[],
            $6::text[], $7::text[], $8::text[], $9::text[], $11::timestamptz[], $12::int[],
            $13::text[])
     AS d(call_sid, caller, first_at, last_at, path, outcome, account_number, premise_id,
          language, ended_at, duration_s, end_status)
ON CONFLICT (call_sid) DO UPDATE SET
    caller = CASE WHEN c.caller = '' THEN EXCLUDED.caller ELSE c.caller END,
    started_at = least(c.started_at, EXCLUDED.started_at),
    last_step_at = greatest(c.last_step_at, EXCLUDED.last_step_at),
    path = (c.path || EXCLUDED.path)[1:64],
    outcome = CASE WHEN array_position($10::text[], EXCLUDED.outcome)
                        > array_position($10::text[], c.outcome)
                   THEN EXCLUDED.outcome ELSE c.outcome END,
    account_number = coalesce(EXCLUDED.account_number, c.account_number),
    premise_id = coalesce(EXCLUDED.premise_id, c.premise_id),
    language = coalesce(EXCLUDED.language, c.language),
    ended_at = coalesce(c.ended_at, EXCLUDED.ended_at),
    duration_s = coalesce(c.duration_s, EXCLUDED.duration_s),
    end_status = coalesce(c.end_status, EXCLUDED.end_status)
RETURNING c.call_sid, c.path, c.outcome, c.ended_at
)
SELECT call_sid, path, outcome FROM merged
WHERE ended_at IS NOT NULL AND call_sid NOT IN (SELECT call_sid FROM ended_before);

-- name: inbound_calls_summary
-- Duration: the carrier's figure when its end-of-call callback came, else first to last step.
SELECT outcome,
       count(*) AS calls,
       avg(coalesce(duration_s, extract(epoch FROM last_step_at - started_at)))::float8
           AS avg_duration_s
FROM inbound_calls
WHERE started_at >= $1 AND started_at < $2
GROUP BY outcome;

-- name: inbound_calls_by_sid
SELECT call_sid, outcome, path FROM inbound_calls WHERE call_sid = ANY($1::text[]);
