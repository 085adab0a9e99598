-- Canary rollouts: a candidate target over a route's default branch, advanced in steps and judged
-- by guardrails (docs/canary.md). At most one active canary per route.
CREATE TABLE canaries (
    id              BIGSERIAL PRIMARY KEY,
    tenant          TEXT NOT NULL,
    alias           TEXT NOT NULL,
    spec            JSONB NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'running', 'paused', 'promoted', 'rolled_back', 'aborted')),
    step            INT NOT NULL DEFAULT 0,
    step_started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The candidate's prompt reference, so snapshots carry the prompt version it needs.
    prompt          TEXT,
    prompt_selector TEXT,
    created_by      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at        TIMESTAMPTZ,
    FOREIGN KEY (tenant, alias) REFERENCES routes (tenant, alias) ON DELETE CASCADE
);
CREATE UNIQUE INDEX canaries_one_active ON canaries (tenant, alias) WHERE state IN ('pending', 'running', 'paused');

-- Every decision on a canary, by the analysis or by hand, with its evidence.
CREATE TABLE canary_decisions (
    id         BIGSERIAL PRIMARY KEY,
    canary_id  BIGINT NOT NULL REFERENCES canaries (id) ON DELETE CASCADE,
    step       INT NOT NULL,
    outcome    TEXT NOT NULL,
    actor      TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    evidence   JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX canary_decisions_canary ON canary_decisions (canary_id, id);
