-- Payouts (helper api): GET /v1/investors/:address/payouts finds an account's leaves in every distribution
-- by account (the primary key starts with distribution_id).

-- CreateIndex
CREATE INDEX "distribution_holder_account_idx" ON "distribution_holder"("account");
