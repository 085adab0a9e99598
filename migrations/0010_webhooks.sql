-- Signed webhook events. A tenant's webhooks (endpoints with a signing secret); an outbox of
-- events, written in the transaction of whatever caused them; one delivery row per (event,
-- webhook), which the delivery service of any control-plane replica claims, sends and retries.
-- Webhooks are not config nodes see: writing them bumps no config version.

CREATE TABLE webhooks (
    tenant        TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    url           TEXT NOT NULL,
    -- The signing secret, AES-GCM sealed under the master key like provider credentials
    -- (`rotate-master-key` re-seals it).
    secret_sealed BYTEA NOT NULL,
    -- Event types (`budget.threshold`) or prefix patterns (`budget.*`); empty means every event.
    events        TEXT[] NOT NULL DEFAULT '{}',
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name)
);

CREATE TABLE webhook_events (
    id         BIGSERIAL PRIMARY KEY,
    tenant     TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    -- The event's `data` object; the envelope (id, type, created_at, tenant) is built on send.
    payload    JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Retention: old events (and their deliveries) are purged by age.
CREATE INDEX webhook_events_created_at ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    event_id        BIGINT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    tenant          TEXT NOT NULL,
    webhook         TEXT NOT NULL,
    -- Attempts started (a claim counts one before the request is sent).
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- When a pending delivery is due; while an attempt runs, when its claim expires.
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ,
    last_status     INTEGER,
    last_error      TEXT,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    PRIMARY KEY (event_id, webhook)
);

-- What the delivery service claims: due pending deliveries, oldest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
-- A webhook's delivery log, newest first.
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (tenant, webhook, event_id DESC);
