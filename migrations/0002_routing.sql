-- Routing and resilience: labels for route rules, several credentials per provider, Gemini.

ALTER TABLE tenants ADD COLUMN labels JSONB NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE api_keys ADD COLUMN labels JSONB NOT NULL DEFAULT '{}'::jsonb;

ALTER TABLE providers DROP CONSTRAINT providers_kind_check;
ALTER TABLE providers ADD CONSTRAINT providers_kind_check
    CHECK (kind IN ('openai', 'anthropic', 'openai_compatible', 'gemini'));

-- The provider's credentials: a JSON list [{"name","key","weight"}] sealed under
-- SWITCHYARD_MASTER_KEY. Supersedes api_key_sealed, which is read as one credential named
-- "default" while credentials_sealed is NULL and cleared on the provider's next write.
ALTER TABLE providers ADD COLUMN credentials_sealed BYTEA;
-- Names and weights of the credentials (no secrets), for the admin API.
ALTER TABLE providers ADD COLUMN credential_names JSONB NOT NULL DEFAULT '[]'::jsonb;
UPDATE providers SET credential_names = '[{"name": "default", "weight": 1}]'::jsonb WHERE api_key_sealed IS NOT NULL;
