-- What callers ask for on the outage line, deduplicated so a storm of calls (or a carrier
-- retrying a webhook) doesn't flood the OMS.
ALTER TABLE outage_reports ADD COLUMN dedupe_key text;
CREATE UNIQUE INDEX outage_reports_dedupe_idx ON outage_reports (dedupe_key)
    WHERE dedupe_key IS NOT NULL;
CREATE UNIQUE INDEX outage_reports_call_idx ON outage_reports (call_sid, kind)
    WHERE call_sid IS NOT NULL;

CREATE TABLE callback_requests (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone          text COLLATE "C" NOT NULL,
    premise_id     text COLLATE "C",
    account_number text COLLATE "C",
    outage_id      bigint REFERENCES outages (id),
    language       text NOT NULL DEFAULT 'en',
    call_sid       text UNIQUE,
    created_at     timestamptz NOT NULL,
    fulfilled_at   timestamptz
);
-- One open request per number and premise: asking twice is asking once.
CREATE UNIQUE INDEX callback_requests_open_idx ON callback_requests (phone, coalesce(premise_id, ''))
    WHERE fulfilled_at IS NULL;
