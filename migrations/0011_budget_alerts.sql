-- Budget alerts: thresholds (percent of the limit) that send a budget.threshold webhook event once
-- per window, and what each window already sent (kept under the window row's lock with its spend).
ALTER TABLE budgets ADD COLUMN alert_thresholds JSONB NOT NULL DEFAULT '[50, 80, 100]'::jsonb;
ALTER TABLE budget_windows ADD COLUMN alerted_percent INT NOT NULL DEFAULT 0;
ALTER TABLE budget_windows ADD COLUMN exhausted_alerted BOOLEAN NOT NULL DEFAULT false;
