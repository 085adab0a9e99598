-- Switchyard control plane: initial schema.
-- Config objects are written in one transaction that also writes an audit row and bumps
-- config_state.version; route revisions are immutable.

CREATE TABLE config_state (
    id      BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    version BIGINT NOT NULL,
    -- config version at which providers or models last changed (the shared shard)
    shared_version BIGINT NOT NULL
);
INSERT INTO config_state (id, version, shared_version) VALUES (TRUE, 0, 0);

CREATE TABLE tenants (
    name           TEXT PRIMARY KEY,
    display_name   TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- config version at which anything in this tenant's shard last changed
    config_version BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '',
    prefix      TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

CREATE TABLE providers (
    name             TEXT PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('openai', 'anthropic', 'openai_compatible')),
    base_url         TEXT NOT NULL,
    -- AES-GCM combined box (nonce || ciphertext || tag) under SWITCHYARD_MASTER_KEY
    api_key_sealed   BYTEA,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE models (
    name                  TEXT PRIMARY KEY,
    provider              TEXT NOT NULL REFERENCES providers (name),
    upstream_model        TEXT NOT NULL,
    input_price_per_mtok  DOUBLE PRECISION NOT NULL CHECK (input_price_per_mtok >= 0),
    output_price_per_mtok DOUBLE PRECISION NOT NULL CHECK (output_price_per_mtok >= 0),
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE routes (
    tenant           TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    alias            TEXT NOT NULL,
    current_revision INTEGER NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, alias)
);

CREATE TABLE route_revisions (
    tenant     TEXT NOT NULL,
    alias      TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    spec       JSONB NOT NULL,
    comment    TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, alias, revision),
    FOREIGN KEY (tenant, alias) REFERENCES routes (tenant, alias) ON DELETE CASCADE
);

-- Which models each route's current revision uses, so a model in use cannot be deleted.
CREATE TABLE route_model_refs (
    tenant TEXT NOT NULL,
    alias  TEXT NOT NULL,
    model  TEXT NOT NULL REFERENCES models (name),
    PRIMARY KEY (tenant, alias, model),
    FOREIGN KEY (tenant, alias) REFERENCES routes (tenant, alias) ON DELETE CASCADE
);

CREATE TABLE audit_log (
    id             BIGSERIAL PRIMARY KEY,
    at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    object_type    TEXT NOT NULL,
    object_id      TEXT NOT NULL,
    config_version BIGINT NOT NULL,
    detail         JSONB NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE nodes (
    node_id          TEXT PRIMARY KEY,
    boot_id          TEXT NOT NULL DEFAULT '',
    applied_version  BIGINT,
    applied_hash     TEXT,
    status           TEXT,
    rejected_version BIGINT,
    reason           TEXT,
    first_seen_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
