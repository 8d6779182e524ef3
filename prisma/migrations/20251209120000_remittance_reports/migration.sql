-- Remittance reports (issue 12): a servicer's loan-level CSV, one line per loan of the tape, stored with the
-- SHA-256 of its bytes (POST /v1/portfolios/:id/remittance-reports). A recovery with `reportId` deposits the
-- report's total and anchors that hash on-chain. The report and its lines are written in one transaction;
-- the same bytes twice for a portfolio are one report (unique portfolio_id, sha256). Lines reference the
-- loan of the tape (the tape no longer changes once the portfolio is published).
CREATE TYPE "resolution_kind" AS ENUM ('settled', 'written_off', 'sold', 'restructured', 'foreclosed');

CREATE TABLE "remittance_report" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "portfolio_id" UUID NOT NULL,
    "sha256" CHAR(64) NOT NULL,
    "size" BIGINT NOT NULL,
    "total" DECIMAL(78,0) NOT NULL,
    "loan_count" INTEGER NOT NULL,
    "resolved_count" INTEGER NOT NULL,
    "submitted_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "remittance_report_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "remittance_report_line" (
    "report_id" UUID NOT NULL,
    "portfolio_id" UUID NOT NULL,
    "loan_id" TEXT NOT NULL,
    "row_number" INTEGER NOT NULL,
    "collected" DECIMAL(78,0) NOT NULL,
    "collected_on" DATE,
    "resolution" "resolution_kind",

    CONSTRAINT "remittance_report_line_pkey" PRIMARY KEY ("report_id","loan_id")
);

CREATE UNIQUE INDEX "remittance_report_portfolio_id_sha256_key" ON "remittance_report"("portfolio_id", "sha256");

CREATE INDEX "remittance_report_line_portfolio_id_loan_id_idx" ON "remittance_report_line"("portfolio_id", "loan_id");

ALTER TABLE "remittance_report" ADD CONSTRAINT "remittance_report_portfolio_id_fkey" FOREIGN KEY ("portfolio_id") REFERENCES "portfolio"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "remittance_report_line" ADD CONSTRAINT "remittance_report_line_report_id_fkey" FOREIGN KEY ("report_id") REFERENCES "remittance_report"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "remittance_report_line" ADD CONSTRAINT "remittance_report_line_portfolio_id_loan_id_fkey" FOREIGN KEY ("portfolio_id", "loan_id") REFERENCES "loan"("portfolio_id", "loan_id") ON DELETE CASCADE ON UPDATE CASCADE;
