-- name: customer_staging_create
CREATE TEMP TABLE customer_staging (
    line            integer NOT NULL,
    account_number  text NOT NULL,
    name            text NOT NULL,
    phone           text NOT NULL,
    alt_phone       text,
    premise_id      text NOT NULL,
    service_address text NOT NULL,
    feeder_id       text,
    timezone        text NOT NULL,
    language        text NOT NULL
) ON COMMIT DROP;

-- name: customer_staging_index
CREATE INDEX ON customer_staging (account_number);
ANALYZE customer_staging;

-- name: customer_import_classify
-- Counted before writing: an account is "updated" only when something about it changes.
WITH existing AS (
    SELECT a.account_number, a.name, p.premise_id, p.service_address, p.feeder_id, p.timezone,
           p.language,
           max(ph.e164) FILTER (WHERE ap.kind = 'primary') AS phone,
           max(ph.e164) FILTER (WHERE ap.kind = 'alternate') AS alt_phone
    FROM customer_staging s
    JOIN accounts a ON a.account_number = s.account_number
    JOIN premises p ON p.id = a.premise_ref
    LEFT JOIN account_phones ap ON ap.account_id = a.id
    LEFT JOIN phones ph ON ph.id = ap.phone_id
    GROUP BY a.id, p.id
)
SELECT (SELECT count(*) FROM customer_staging) - count(*) AS imported,
       count(*) FILTER (WHERE
           (e.name, e.premise_id, e.service_address, e.feeder_id, e.timezone, e.language, e.phone,
            e.alt_phone)
           IS DISTINCT FROM
           (s.name, s.premise_id, s.service_address, s.feeder_id, s.timezone, s.language, s.phone,
            s.alt_phone)) AS updated
FROM existing e
JOIN customer_staging s ON s.account_number = e.account_number;

-- name: customer_import_premises
-- Several accounts may share a premise; the last row of the file describes it.
INSERT INTO premises AS p (premise_id, service_address, feeder_id, timezone, language)
SELECT DISTINCT ON (premise_id) premise_id, service_address, feeder_id, timezone, language
FROM customer_staging
ORDER BY premise_id, line DESC
ON CONFLICT (premise_id) DO UPDATE
SET service_address = EXCLUDED.service_address, feeder_id = EXCLUDED.feeder_id,
    timezone = EXCLUDED.timezone, language = EXCLUDED.language, updated_at = now()
WHERE (p.service_address, p.feeder_id, p.timezone, p.language)
      IS DISTINCT FROM (EXCLUDED.service_address, EXCLUDED.feeder_id, EXCLUDED.timezone, EXCLUDED.language);

-- name: customer_import_accounts
INSERT INTO accounts AS a (account_number, name, premise_ref)
SELECT s.account_number, s.name, p.id
FROM customer_staging s JOIN premises p ON p.premise_id = s.premise_id
ON CONFLICT (account_number) DO UPDATE
SET name = EXCLUDED.name, premise_ref = EXCLUDED.premise_ref, updated_at = now()
WHERE (a.name, a.premise_ref) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.premise_ref);

-- name: customer_import_phones
INSERT INTO phones (e164)
SELECT phone FROM customer_staging
UNION
SELECT alt_phone FROM customer_staging WHERE alt_phone IS NOT NULL
ON CONFLICT (e164) DO NOTHING;

-- name: customer_import_unlink_phones
-- The file is the truth for the accounts it names: their phone list is replaced, not merged.
DELETE FROM account_phones ap
USING accounts a, customer_staging s
WHERE ap.account_id = a.id AND a.account_number = s.account_number;

-- name: customer_import_link_phones
INSERT INTO account_phones (account_id, phone_id, kind)
SELECT a.id, ph.id, 'primary'
FROM customer_staging s
JOIN accounts a ON a.account_number = s.account_number
JOIN phones ph ON ph.e164 = s.phone
UNION ALL
SELECT a.id, ph.id, 'alternate'
FROM customer_staging s
JOIN accounts a ON a.account_number = s.account_number
JOIN phones ph ON ph.e164 = s.alt_phone;

-- name: customer_import_lock
SELECT pg_advisory_xact_lock($1);
