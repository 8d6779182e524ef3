-- Distributions (issue 10, defects 4 and 10): push batches fixed at the start, reorg reconciliation.
--
-- Push batches are fixed when the push step starts and recorded: `distribution.push_batch_size` is the
-- DISTRIBUTION_PUSH_BATCH the push started with (null: not started), `distribution_holder.push_batch`
-- the claimMany batch (`distribution-push-<id>-<batch>`) that pays the holder (null: not pushed,
-- e.g. below DISTRIBUTION_MIN_PUSH). A resumed push sends exactly these batches, whatever the
-- worker's settings are now.
ALTER TABLE "distribution" ADD COLUMN "push_batch_size" INTEGER;
ALTER TABLE "distribution_holder" ADD COLUMN "push_batch" INTEGER;

-- Reorgs (defect 4): `proposing_at` is set, in the statement that checks the recovery event is still
-- indexed and final, just before proposeRoot is sent. The poll's reconciliation deletes a distribution
-- whose event a reorg removed only while it is unset (nothing can have gone on chain); a marked one is
-- failed for an operator instead.
ALTER TABLE "distribution" ADD COLUMN "proposing_at" TIMESTAMPTZ(3);

-- One distribution per recovery of a portfolio: a deposit that a reorg moved to another block (or
-- transaction) is the same recovery, never a second distribution.
DROP INDEX "distribution_portfolio_id_recovery_id_idx";
CREATE UNIQUE INDEX "distribution_portfolio_id_recovery_id_key" ON "distribution"("portfolio_id", "recovery_id");
