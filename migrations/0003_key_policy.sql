-- Virtual keys: expiry, the routes a key may use, and free-form metadata.

ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMPTZ;
-- Route aliases the key may call; empty means every route of its tenant.
ALTER TABLE api_keys ADD COLUMN allowed_routes JSONB NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE api_keys ADD COLUMN metadata JSONB NOT NULL DEFAULT '{}'::jsonb;
