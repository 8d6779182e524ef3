-- Waterfall spec v2 terms of a draft (issue 12): the cash reserve `{ targetBps, initial }` and the
-- collection-ratio trigger `{ collectionRatioBps, businessPlan }`. Null columns: no reserve / no trigger.
-- The business plan is one row per point (position 0..), replaced as a whole in one transaction
-- (PUT /v1/portfolios/:id/business-plan); the API validates the terms (bps 0..10000, strictly increasing
-- at_seconds, non-decreasing cumulative, at most MAX_BUSINESS_PLAN_POINTS); the unique index keeps two
-- points of a plan from sharing a time even so.
ALTER TABLE "portfolio" ADD COLUMN "reserve_target_bps" INTEGER,
    ADD COLUMN "reserve_initial" DECIMAL(78,0),
    ADD COLUMN "trigger_collection_ratio_bps" INTEGER;

CREATE TABLE "business_plan_point" (
    "portfolio_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "at_seconds" BIGINT NOT NULL,
    "cumulative" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "business_plan_point_pkey" PRIMARY KEY ("portfolio_id","position")
);

CREATE UNIQUE INDEX "business_plan_point_portfolio_id_at_seconds_key" ON "business_plan_point"("portfolio_id", "at_seconds");

ALTER TABLE "business_plan_point" ADD CONSTRAINT "business_plan_point_portfolio_id_fkey" FOREIGN KEY ("portfolio_id") REFERENCES "portfolio"("id") ON DELETE CASCADE ON UPDATE CASCADE;
