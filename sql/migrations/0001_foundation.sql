-- Customers, outages as the OMS reports them, what callers report, API tokens and the audit log.

-- Customer tables use the CIS's own identifiers as keys: every lookup and import speaks them,
-- and a surrogate key would cost one more index entry per row on a million-row import.
-- Identifiers compare byte by byte (COLLATE "C"): they are codes, not words, and a
-- language-aware collation made every sort and index comparison several times dearer.
CREATE TABLE premises (
    premise_id      text COLLATE "C" PRIMARY KEY,
    service_address text NOT NULL,
    feeder_id       text COLLATE "C",
    timezone        text NOT NULL,
    language        text NOT NULL DEFAULT 'en',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX premises_feeder_idx ON premises (feeder_id) WHERE feeder_id IS NOT NULL;

CREATE TABLE accounts (
    account_number text COLLATE "C" PRIMARY KEY,
    name           text NOT NULL,
    premise_id     text COLLATE "C" NOT NULL REFERENCES premises (premise_id),
    -- md5 of the customer-file row last imported for this account: a re-import skips
    -- unchanged accounts without comparing every column of every table.
    source_hash    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_premise_idx ON accounts (premise_id);

-- One household number may cover several accounts and one account several numbers.
CREATE TABLE phones (
    -- The application writes only normalized E.164; this cheap shape check catches a bypass
    -- (a regular expression here cost more than the insert itself on bulk imports).
    e164         text COLLATE "C" PRIMARY KEY CHECK (e164 LIKE '+%' AND length(e164) BETWEEN 8 AND 16),
    opted_out_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE account_phones (
    e164           text COLLATE "C" NOT NULL REFERENCES phones (e164),
    account_number text COLLATE "C" NOT NULL REFERENCES accounts (account_number) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('primary', 'alternate')),
    PRIMARY KEY (e164, account_number)
);
CREATE INDEX account_phones_account_idx ON account_phones (account_number);

CREATE TABLE outages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    oms_id      text NOT NULL UNIQUE,
    status      text NOT NULL CHECK (status IN
                  ('reported', 'confirmed', 'crew_dispatched', 'crew_on_site', 'restored', 'cancelled')),
    active      boolean GENERATED ALWAYS AS (status NOT IN ('restored', 'cancelled')) STORED,
    cause       text,
    crew_status text NOT NULL DEFAULT 'none' CHECK (crew_status IN ('none', 'dispatched', 'on_site')),
    etr         timestamptz,
    planned     boolean NOT NULL DEFAULT false,
    starts_at   timestamptz,
    ends_at     timestamptz,
    -- The last full state the OMS sent, canonical, so a repeated PUT is recognised as one.
    state       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    restored_at timestamptz
);
CREATE INDEX outages_active_idx ON outages (updated_at DESC) WHERE active;

CREATE TABLE outage_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outage_id  bigint NOT NULL REFERENCES outages (id),
    changed_at timestamptz NOT NULL,
    actor      text NOT NULL,
    state      jsonb NOT NULL
);
CREATE INDEX outage_history_outage_idx ON outage_history (outage_id, id);

-- History is evidence: it may grow, never change.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER outage_history_append_only BEFORE UPDATE OR DELETE ON outage_history
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Membership is kept by the OMS's ids, not foreign keys: the OMS may name a premise before the
-- customer file that brings it has been imported, and the outage must cover it once it is.
CREATE TABLE outage_premises (
    outage_id  bigint NOT NULL REFERENCES outages (id) ON DELETE CASCADE,
    premise_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (outage_id, premise_id)
);
CREATE INDEX outage_premises_premise_idx ON outage_premises (premise_id);

CREATE TABLE outage_feeders (
    outage_id bigint NOT NULL REFERENCES outages (id) ON DELETE CASCADE,
    feeder_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (outage_id, feeder_id)
);
CREATE INDEX outage_feeders_feeder_idx ON outage_feeders (feeder_id);

CREATE TABLE outage_reports (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('outage', 'hazard', 'still_out')),
    premise_id  text COLLATE "C",
    account_number text COLLATE "C" REFERENCES accounts (account_number),
    outage_id   bigint REFERENCES outages (id),
    phone       text,
    call_sid    text,
    source      text NOT NULL DEFAULT 'ivr',
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outage_reports_created_idx ON outage_reports (created_at, id);
CREATE INDEX outage_reports_premise_idx ON outage_reports (premise_id, outage_id);

CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('oms', 'supervisor', 'viewer')),
    token_hash   text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE audit_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    entity    text NOT NULL,
    entity_id text,
    details   jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id, id);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
