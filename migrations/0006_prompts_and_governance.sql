-- Versioned prompts, and governance: model tags and capabilities, tenant and key policies.

-- A prompt of a tenant; its versions are immutable, labels point at versions.
CREATE TABLE prompts (
    tenant         TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    latest_version INTEGER NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name)
);

CREATE TABLE prompt_versions (
    tenant     TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    spec       JSONB NOT NULL,
    comment    TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name, version),
    FOREIGN KEY (tenant, name) REFERENCES prompts (tenant, name) ON DELETE CASCADE
);

CREATE TABLE prompt_labels (
    tenant     TEXT NOT NULL,
    name       TEXT NOT NULL,
    label      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name, label),
    FOREIGN KEY (tenant, name, version) REFERENCES prompt_versions (tenant, name, version) ON DELETE CASCADE
);

-- Which prompt references (`name@version` or `name@label`) each route's current revision uses,
-- so a referenced prompt or label cannot be deleted from under it.
CREATE TABLE route_prompt_refs (
    tenant   TEXT NOT NULL,
    alias    TEXT NOT NULL,
    prompt   TEXT NOT NULL,
    selector TEXT NOT NULL,
    PRIMARY KEY (tenant, alias, prompt, selector),
    FOREIGN KEY (tenant, alias) REFERENCES routes (tenant, alias) ON DELETE CASCADE
);
CREATE INDEX route_prompt_refs_prompt ON route_prompt_refs (tenant, prompt);

ALTER TABLE models ADD COLUMN tags JSONB NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE models ADD COLUMN capabilities JSONB NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE tenants ADD COLUMN policy JSONB NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE api_keys ADD COLUMN policy JSONB NOT NULL DEFAULT '{}'::jsonb;
