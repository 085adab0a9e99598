-- Admin tokens: platform-wide (tenant IS NULL) or scoped to one tenant, each with a role.
-- Only a SHA-256 of the secret is stored; the secret is shown once, when the token is created.

CREATE TABLE admin_tokens (
    id          TEXT PRIMARY KEY,
    tenant      TEXT REFERENCES tenants (name) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    prefix      TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX admin_tokens_tenant ON admin_tokens (tenant);
