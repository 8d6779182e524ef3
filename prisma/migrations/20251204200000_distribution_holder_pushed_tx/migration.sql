-- GET /v1/distributions/:id lists the distinct claimMany transactions of a distribution. With this
-- index the route walks them with a skip scan (one index probe per transaction, core of
-- server/routes/distributions.ts `pushTransactions`) instead of reading one row per pushed holder.
CREATE INDEX "distribution_holder_distribution_id_pushed_tx_idx" ON "distribution_holder"("distribution_id", "pushed_tx");
