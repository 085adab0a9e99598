-- The price catalog: each model's price changes with the time they take effect. A request is
-- charged the prices in force when it was served; the model's own prices apply before its first
-- change.

CREATE TABLE model_prices (
    model                       TEXT NOT NULL REFERENCES models (name) ON DELETE CASCADE,
    effective_at                TIMESTAMPTZ NOT NULL,
    input_price_per_mtok        DOUBLE PRECISION NOT NULL CHECK (input_price_per_mtok >= 0),
    output_price_per_mtok       DOUBLE PRECISION NOT NULL CHECK (output_price_per_mtok >= 0),
    cached_input_price_per_mtok DOUBLE PRECISION CHECK (cached_input_price_per_mtok >= 0),
    request_price_micros        BIGINT NOT NULL DEFAULT 0 CHECK (request_price_micros >= 0),
    created_by                  TEXT NOT NULL,
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (model, effective_at)
);
