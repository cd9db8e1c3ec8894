-- Customers, outages as the OMS reports them, what callers report, API tokens and the audit log.

CREATE TABLE premises (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    premise_id      text NOT NULL UNIQUE,
    service_address text NOT NULL,
    feeder_id       text,
    timezone        text NOT NULL,
    language        text NOT NULL DEFAULT 'en',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX premises_feeder_idx ON premises (feeder_id) WHERE feeder_id IS NOT NULL;

CREATE TABLE accounts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_number text NOT NULL UNIQUE,
    name           text NOT NULL,
    premise_ref    bigint NOT NULL REFERENCES premises (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_premise_idx ON accounts (premise_ref);

-- One household number may cover several accounts and one account several numbers.
CREATE TABLE phones (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    e164         text NOT NULL UNIQUE CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    opted_out_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE account_phones (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    phone_id   bigint NOT NULL REFERENCES phones (id),
    kind       text NOT NULL CHECK (kind IN ('primary', 'alternate')),
    PRIMARY KEY (account_id, phone_id)
);
CREATE INDEX account_phones_phone_idx ON account_phones (phone_id);

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
    premise_id text NOT NULL,
    PRIMARY KEY (outage_id, premise_id)
);
CREATE INDEX outage_premises_premise_idx ON outage_premises (premise_id);

CREATE TABLE outage_feeders (
    outage_id bigint NOT NULL REFERENCES outages (id) ON DELETE CASCADE,
    feeder_id text NOT NULL,
    PRIMARY KEY (outage_id, feeder_id)
);
CREATE INDEX outage_feeders_feeder_idx ON outage_feeders (feeder_id);

CREATE TABLE outage_reports (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('outage', 'hazard', 'still_out')),
    premise_id  text,
    account_id  bigint REFERENCES accounts (id),
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
