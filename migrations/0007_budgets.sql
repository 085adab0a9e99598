-- Budgets enforced through node leases, per-request model surcharges, and daily spend aggregates.

ALTER TABLE models ADD COLUMN request_price_micros BIGINT NOT NULL DEFAULT 0 CHECK (request_price_micros >= 0);

CREATE TABLE budgets (
    tenant                TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    scope_kind            TEXT NOT NULL CHECK (scope_kind IN ('tenant', 'key', 'route', 'tag')),
    scope_value           TEXT NOT NULL DEFAULT '',
    period                TEXT NOT NULL CHECK (period IN ('day', 'month', 'total')),
    time_zone             TEXT NOT NULL,
    limit_micros          BIGINT NOT NULL CHECK (limit_micros >= 0),
    mode                  TEXT NOT NULL CHECK (mode IN ('hard', 'soft')),
    outage_policy         TEXT NOT NULL CHECK (outage_policy IN ('deny', 'safe', 'allow')),
    safe_allowance_micros BIGINT NOT NULL DEFAULT 0,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name)
);

-- What each window of a budget has spent (settled, as nodes reported it).
CREATE TABLE budget_windows (
    tenant       TEXT NOT NULL,
    budget       TEXT NOT NULL,
    window_id    TEXT NOT NULL,
    spent_micros BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, budget, window_id),
    FOREIGN KEY (tenant, budget) REFERENCES budgets (tenant, name) ON DELETE CASCADE
);

-- One lease per (budget window, node boot). Invariant, kept under the window row's lock:
-- spent + sum over live leases of max(granted - spent, 0) <= limit.
CREATE TABLE budget_leases (
    tenant         TEXT NOT NULL,
    budget         TEXT NOT NULL,
    window_id      TEXT NOT NULL,
    holder         TEXT NOT NULL,
    granted_micros BIGINT NOT NULL DEFAULT 0,
    spent_micros   BIGINT NOT NULL DEFAULT 0,
    expires_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, budget, window_id, holder),
    FOREIGN KEY (tenant, budget, window_id) REFERENCES budget_windows (tenant, budget, window_id) ON DELETE CASCADE
);

-- Spend per UTC day, tenant, key, route and model, summed from node reports.
CREATE TABLE spend_daily (
    day               DATE NOT NULL,
    tenant            TEXT NOT NULL,
    key_id            TEXT NOT NULL,
    route             TEXT NOT NULL,
    model             TEXT NOT NULL,
    requests          BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cost_micros       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, tenant, key_id, route, model)
);

-- The last spend report applied per node boot, so a resent report is applied once.
CREATE TABLE usage_reports (
    holder     TEXT PRIMARY KEY,
    seq        BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
