-- Listing indexes (GET /v1/portfolios): one btree per supported sort, each ending in "id", the tie-breaker of
-- the keyset cursor, so that a page (either direction: the same index is scanned backwards for a descending
-- sort) is read from the index without sorting the table; and (filter, created_at, id) for the common filters
-- with the default sort (-createdAt). They replace the init migration's (status, created_at) and (total_upb).
-- cents_per_dollar and wa_days_past_due are NULL before a tape is uploaded; the listing orders them NULLS FIRST
-- ascending (NULLS LAST descending), which is what these two indexes store (Prisma's @@index cannot say so).

-- DropIndex
DROP INDEX "portfolio_status_created_at_idx";

-- DropIndex
DROP INDEX "portfolio_total_upb_idx";

-- CreateIndex
CREATE INDEX "portfolio_created_at_id_idx" ON "portfolio"("created_at", "id");

-- CreateIndex
CREATE INDEX "portfolio_status_created_at_id_idx" ON "portfolio"("status", "created_at", "id");

-- CreateIndex
CREATE INDEX "portfolio_asset_class_created_at_id_idx" ON "portfolio"("asset_class", "created_at", "id");

-- CreateIndex
CREATE INDEX "portfolio_jurisdiction_created_at_id_idx" ON "portfolio"("jurisdiction", "created_at", "id");

-- CreateIndex
CREATE INDEX "portfolio_total_upb_id_idx" ON "portfolio"("total_upb", "id");

-- CreateIndex
CREATE INDEX "portfolio_asking_price_id_idx" ON "portfolio"("asking_price", "id");

-- CreateIndex
CREATE INDEX "portfolio_cents_per_dollar_id_idx" ON "portfolio"("cents_per_dollar" ASC NULLS FIRST, "id");

-- CreateIndex
CREATE INDEX "portfolio_wa_days_past_due_id_idx" ON "portfolio"("wa_days_past_due" ASC NULLS FIRST, "id");

-- CreateIndex
CREATE INDEX "portfolio_loan_count_id_idx" ON "portfolio"("loan_count", "id");

-- CreateIndex
CREATE INDEX "portfolio_name_id_idx" ON "portfolio"("name", "id");
