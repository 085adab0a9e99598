-- Rate limits (requests and tokens per minute) of tenants and keys; provider credentials keep
-- theirs in credential_names / credentials_sealed. They are enforced through the same leases as
-- budgets, under reserved names starting with '~' (budget names cannot), so budget_windows no
-- longer references budgets: deleting a budget or a tenant deletes its windows explicitly.
ALTER TABLE tenants ADD COLUMN rate_limits JSONB NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE api_keys ADD COLUMN rate_limits JSONB NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE budget_windows DROP CONSTRAINT budget_windows_tenant_budget_fkey;
