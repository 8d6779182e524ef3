-- Remittance reports (issue 12): the reporting period and the loans' servicing state.
--
-- remittance_report.period_start / period_end: the period a report covers, both days included; every
-- collected_on of its lines is inside it, and a portfolio's periods follow one another (each new one
-- starts after the latest period_end; checked under the portfolio's row lock when the report is stored).
-- loan.resolution / resolved_at / resolution_report_id / collected_to_date: written in the transaction
-- that stores each report (the resolution the first report giving one gave, that report's period end and
-- id; the sum of collected over every stored report).
--
-- Reports stored before this migration get the period [earliest collected_on (or the day stored), day
-- stored] (UTC), and the loans the state those reports give them, in the order they were stored.

-- AlterTable
ALTER TABLE "remittance_report" ADD COLUMN "period_start" DATE,
ADD COLUMN "period_end" DATE;

UPDATE "remittance_report" r
   SET "period_end" = (r."created_at" AT TIME ZONE 'UTC')::date,
       "period_start" = LEAST(
         (r."created_at" AT TIME ZONE 'UTC')::date,
         COALESCE((SELECT min(l."collected_on") FROM "remittance_report_line" l WHERE l."report_id" = r."id"),
                  (r."created_at" AT TIME ZONE 'UTC')::date));

ALTER TABLE "remittance_report" ALTER COLUMN "period_start" SET NOT NULL,
ALTER COLUMN "period_end" SET NOT NULL,
ADD CONSTRAINT "remittance_report_period_check" CHECK ("period_start" <= "period_end");

-- AlterTable
ALTER TABLE "loan" ADD COLUMN "resolution" "resolution_kind",
ADD COLUMN "resolved_at" DATE,
ADD COLUMN "resolution_report_id" UUID,
ADD COLUMN "collected_to_date" DECIMAL(78,0) NOT NULL DEFAULT 0;

UPDATE "loan" o
   SET "collected_to_date" = s."collected"
  FROM (SELECT "portfolio_id", "loan_id", sum("collected") AS "collected"
          FROM "remittance_report_line" GROUP BY "portfolio_id", "loan_id") s
 WHERE o."portfolio_id" = s."portfolio_id" AND o."loan_id" = s."loan_id";

UPDATE "loan" o
   SET "resolution" = f."resolution", "resolved_at" = f."period_end", "resolution_report_id" = f."report_id"
  FROM (SELECT DISTINCT ON (l."portfolio_id", l."loan_id") l."portfolio_id", l."loan_id", l."resolution",
               r."period_end", r."id" AS "report_id"
          FROM "remittance_report_line" l JOIN "remittance_report" r ON r."id" = l."report_id"
         WHERE l."resolution" IS NOT NULL
         ORDER BY l."portfolio_id", l."loan_id", r."created_at", r."id") f
 WHERE o."portfolio_id" = f."portfolio_id" AND o."loan_id" = f."loan_id";

-- CreateIndex
CREATE INDEX "remittance_report_portfolio_id_period_end_idx" ON "remittance_report"("portfolio_id", "period_end");

-- CreateIndex
CREATE INDEX "loan_resolution_report_id_idx" ON "loan"("resolution_report_id");

-- AddForeignKey
ALTER TABLE "loan" ADD CONSTRAINT "loan_resolution_report_id_fkey" FOREIGN KEY ("resolution_report_id") REFERENCES "remittance_report"("id") ON DELETE SET NULL ON UPDATE CASCADE;
