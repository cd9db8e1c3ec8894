-- Customer import, in one transaction, a batch of the file at a time: COPY the batch into
-- staging, pick out the accounts that are new or changed (import_delta), write only those.
-- On a nightly re-import of an unchanged file nothing is written at all.

-- name: feeder_counts_refresh
-- Premises and accounts per feeder after an import (outage counts are sums of these).
WITH counted AS (
    SELECT p.feeder_id, count(DISTINCT p.premise_id)::integer AS premises,
           count(a.account_number)::integer AS accounts
    FROM premises p LEFT JOIN accounts a ON a.premise_id = p.premise_id
    WHERE p.feeder_id IS NOT NULL
    GROUP BY p.feeder_id
), gone AS (
    DELETE FROM feeder_counts f
    WHERE NOT EXISTS (SELECT FROM counted c WHERE c.feeder_id = f.feeder_id)
)
INSERT INTO feeder_counts (feeder_id, premises, accounts)
SELECT feeder_id, premises, accounts FROM counted
ON CONFLICT (feeder_id) DO UPDATE SET premises = EXCLUDED.premises, accounts = EXCLUDED.accounts
WHERE (feeder_counts.premises, feeder_counts.accounts)
      IS DISTINCT FROM (EXCLUDED.premises, EXCLUDED.accounts);

-- name: customer_import_lock
SELECT pg_advisory_xact_lock($1);

-- name: customer_import_may_skip_triggers
-- Only a superuser may set session_replication_role; everyone else keeps per-row FK checks.
SELECT rolsuper FROM pg_roles WHERE rolname = current_user;

-- name: customer_import_skip_triggers
SET LOCAL session_replication_role = replica;

-- name: customer_staging_create
CREATE TEMP TABLE customer_staging (
    line            integer NOT NULL,
    account_number  text COLLATE "C" NOT NULL,
    name            text NOT NULL,
    phone           text COLLATE "C" NOT NULL,
    alt_phone       text COLLATE "C",
    premise_id      text COLLATE "C" NOT NULL,
    service_address text NOT NULL,
    feeder_id       text COLLATE "C",
    timezone        text NOT NULL,
    language        text NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE import_delta (
    LIKE customer_staging,
    row_hash text NOT NULL,
    is_new   boolean NOT NULL
) ON COMMIT DROP;

-- name: customer_import_batch_clear
TRUNCATE customer_staging, import_delta;

-- name: customer_import_delta
INSERT INTO import_delta
SELECT s.*, h.row_hash, a.account_number IS NULL AS is_new
FROM customer_staging s
CROSS JOIN LATERAL (
    SELECT md5(row(s.name, s.phone, s.alt_phone, s.premise_id, s.service_address, s.feeder_id,
                   s.timezone, s.language)::text) AS row_hash
) h
LEFT JOIN accounts a ON a.account_number = s.account_number
WHERE a.account_number IS NULL OR a.source_hash IS DISTINCT FROM h.row_hash;

-- name: customer_import_delta_analyze
-- Temporary tables are never analysed automatically; without this the planner guesses.
ANALYZE import_delta;

-- name: customer_import_counts
SELECT count(*) FILTER (WHERE is_new) AS imported, count(*) FILTER (WHERE NOT is_new) AS updated
FROM import_delta;

-- name: customer_import_premises_update
-- Several accounts may share a premise; the last changed row of the file describes it.
UPDATE premises p
SET service_address = d.service_address, feeder_id = d.feeder_id, timezone = d.timezone,
    language = d.language, updated_at = now()
FROM (
    SELECT DISTINCT ON (premise_id) premise_id, service_address, feeder_id, timezone, language
    FROM import_delta ORDER BY premise_id, line DESC
) d
WHERE p.premise_id = d.premise_id
  AND (p.service_address, p.feeder_id, p.timezone, p.language)
      IS DISTINCT FROM (d.service_address, d.feeder_id, d.timezone, d.language);

-- name: customer_import_premises_insert
INSERT INTO premises (premise_id, service_address, feeder_id, timezone, language)
SELECT DISTINCT ON (premise_id) premise_id, service_address, feeder_id, timezone, language
FROM import_delta d
WHERE NOT EXISTS (SELECT FROM premises p WHERE p.premise_id = d.premise_id)
ORDER BY premise_id, line DESC;

-- name: customer_import_accounts_update
UPDATE accounts a
SET name = d.name, premise_id = d.premise_id, source_hash = d.row_hash, updated_at = now()
FROM import_delta d
WHERE NOT d.is_new AND a.account_number = d.account_number;

-- name: customer_import_accounts_insert
-- Rows arrive in key order so that every btree grows at its right edge (a third cheaper).
INSERT INTO accounts (account_number, name, premise_id, source_hash)
SELECT account_number, name, premise_id, row_hash FROM import_delta WHERE is_new
ORDER BY account_number;

-- name: customer_import_phones_insert
INSERT INTO phones (e164)
SELECT DISTINCT n.e164
FROM import_delta d
CROSS JOIN LATERAL (VALUES (d.phone), (d.alt_phone)) AS n (e164)
WHERE n.e164 IS NOT NULL
  AND NOT EXISTS (SELECT FROM phones ph WHERE ph.e164 = n.e164)
ORDER BY n.e164;

-- name: customer_import_links_drop
-- The file is the truth for the accounts it names: numbers it no longer lists are unlinked.
DELETE FROM account_phones ap
USING import_delta d
WHERE NOT d.is_new AND ap.account_number = d.account_number
  AND ap.e164 <> d.phone AND ap.e164 IS DISTINCT FROM d.alt_phone;

-- name: customer_import_links_add
WITH wanted AS (
    SELECT d.account_number, d.phone AS e164, 'primary' AS kind, d.is_new FROM import_delta d
    UNION ALL
    SELECT d.account_number, d.alt_phone, 'alternate', d.is_new FROM import_delta d
    WHERE d.alt_phone IS NOT NULL
), rekinded AS (
    UPDATE account_phones ap SET kind = w.kind
    FROM wanted w
    WHERE NOT w.is_new AND ap.account_number = w.account_number AND ap.e164 = w.e164
      AND ap.kind <> w.kind
)
INSERT INTO account_phones (e164, account_number, kind)
SELECT w.e164, w.account_number, w.kind
FROM wanted w
WHERE w.is_new OR NOT EXISTS (
    SELECT FROM account_phones ap WHERE ap.e164 = w.e164 AND ap.account_number = w.account_number
)
ORDER BY w.e164, w.account_number;

-- name: customer_import_dangling
-- With per-row FK triggers skipped, the same guarantees are checked once over what was written.
SELECT
    (SELECT count(*) FROM import_delta d
      WHERE NOT EXISTS (SELECT FROM premises p WHERE p.premise_id = d.premise_id)) +
    (SELECT count(*) FROM import_delta d
      WHERE NOT EXISTS (SELECT FROM accounts a WHERE a.account_number = d.account_number)) +
    (SELECT count(*) FROM import_delta d
      CROSS JOIN LATERAL (VALUES (d.phone), (d.alt_phone)) AS n (e164)
      WHERE n.e164 IS NOT NULL AND NOT EXISTS (SELECT FROM phones ph WHERE ph.e164 = n.e164));
