-- The tape statistics of a portfolio are derived from values the API accepts, so each column must hold
-- the largest value those inputs can produce (a tape row with collateral coverage over 10^14, or an
-- asking price near 2^256 over a small UPB, failed the stats UPDATE with a numeric overflow: 500).
-- Bounds, from the loan columns (NUMERIC(24,4): 0 <= value < 10^20, so any UPB > 0 is >= 0.0001):
-- - total_upb, total_collateral: a sum of N values < 10^20; 36 integer digits hold N < 10^16 loans (a
--   tape of that many rows would be petabytes; LOAN_TAPE_MAX_BYTES is 512 MiB by default).
-- - collateral_coverage = total_collateral / total_upb < 10^36 / 10^-4 = 10^40: 41 integer digits.
-- - cents_per_dollar = asking_price (< 2^256 < 1.2 * 10^77) / 10^pay_token_decimals (>= 1)
--   / total_upb (>= 10^-4) * 100 < 1.2 * 10^83: 84 integer digits.
-- Widening a NUMERIC keeps every stored value; the cents_per_dollar index is rebuilt with the column.
ALTER TABLE "portfolio"
    ALTER COLUMN "total_upb" TYPE DECIMAL(40,4),
    ALTER COLUMN "total_collateral" TYPE DECIMAL(40,4),
    ALTER COLUMN "collateral_coverage" TYPE DECIMAL(47,6),
    ALTER COLUMN "cents_per_dollar" TYPE DECIMAL(88,4);
