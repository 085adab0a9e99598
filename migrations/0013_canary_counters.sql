-- Canary counters as nodes report them: cumulative per node process (holder = node id + boot id),
-- canary step and arm, so the control plane keeps the largest value and sums over holders.
CREATE TABLE canary_counters (
    canary_id  BIGINT NOT NULL REFERENCES canaries (id) ON DELETE CASCADE,
    step       INT NOT NULL,
    candidate  BOOLEAN NOT NULL,
    holder     TEXT NOT NULL,
    requests   BIGINT NOT NULL DEFAULT 0,
    bad        BIGINT[] NOT NULL DEFAULT '{}',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (canary_id, step, candidate, holder)
);
