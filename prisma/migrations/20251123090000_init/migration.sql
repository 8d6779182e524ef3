-- CreateEnum
CREATE TYPE "portfolio_status" AS ENUM ('draft', 'publishing', 'published');

-- CreateEnum
CREATE TYPE "waterfall_mode" AS ENUM ('interestFirst', 'sequential');

-- CreateEnum
CREATE TYPE "asset_class" AS ENUM ('residential_mortgage', 'commercial_real_estate', 'corporate', 'consumer', 'auto', 'other', 'mixed');

-- CreateEnum
CREATE TYPE "borrower_type" AS ENUM ('household', 'sme', 'corporate');

-- CreateEnum
CREATE TYPE "legal_status" AS ENUM ('none', 'out_of_court', 'in_court', 'insolvency', 'settled');

-- CreateEnum
CREATE TYPE "collateral_type" AS ENUM ('residential', 'commercial', 'land', 'vehicle', 'other', 'none');

-- CreateEnum
CREATE TYPE "api_key_role" AS ENUM ('issuer', 'servicer', 'admin');

-- CreateEnum
CREATE TYPE "job_status" AS ENUM ('queued', 'running', 'succeeded', 'failed');

-- CreateTable
CREATE TABLE "portfolio" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "owner" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "asset_class" "asset_class" NOT NULL,
    "jurisdiction" CHAR(2) NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "asking_price" DECIMAL(78,0) NOT NULL,
    "pay_token_decimals" INTEGER NOT NULL DEFAULT 6,
    "servicer_address" TEXT NOT NULL,
    "servicer_fee_bps" INTEGER NOT NULL,
    "protocol_fee_bps" INTEGER NOT NULL,
    "waterfall_mode" "waterfall_mode" NOT NULL DEFAULT 'interestFirst',
    "status" "portfolio_status" NOT NULL DEFAULT 'draft',
    "tape_sha256" CHAR(64),
    "tape_file_size" BIGINT,
    "tape_uploaded_at" TIMESTAMPTZ(3),
    "loan_count" INTEGER NOT NULL DEFAULT 0,
    "total_upb" DECIMAL(30,4) NOT NULL DEFAULT 0,
    "total_collateral" DECIMAL(30,4) NOT NULL DEFAULT 0,
    "wa_days_past_due" DECIMAL(14,4),
    "collateral_coverage" DECIMAL(20,6),
    "in_court_share" DECIMAL(10,6),
    "cents_per_dollar" DECIMAL(20,4),
    "breakdown" JSONB NOT NULL DEFAULT '{}',
    "chain_id" INTEGER,
    "portfolio_address" TEXT,
    "distributor_address" TEXT,
    "offering_address" TEXT,
    "deploy_tx_hash" TEXT,
    "document_root" TEXT,
    "document_root_tx_hash" TEXT,
    "publish_error" TEXT,
    "published_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "portfolio_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "tranche" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "portfolio_id" UUID NOT NULL,
    "seniority" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "symbol" TEXT NOT NULL,
    "face" DECIMAL(78,0) NOT NULL,
    "coupon_bps" INTEGER NOT NULL,
    "price_bps" INTEGER NOT NULL DEFAULT 10000,
    "residual" BOOLEAN NOT NULL DEFAULT false,
    "address" TEXT,
    "sold" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "outstanding" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "interest_arrears" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "paid_to_date" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tranche_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "loan" (
    "portfolio_id" UUID NOT NULL,
    "loan_id" TEXT NOT NULL,
    "row_number" INTEGER NOT NULL,
    "counterparty_id" TEXT,
    "borrower_type" "borrower_type" NOT NULL,
    "asset_class" "asset_class" NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "origination_date" DATE NOT NULL,
    "principal_balance" DECIMAL(24,4) NOT NULL,
    "accrued_interest" DECIMAL(24,4),
    "legal_balance" DECIMAL(24,4),
    "days_past_due" INTEGER NOT NULL,
    "date_of_default" DATE,
    "last_payment_date" DATE,
    "legal_status" "legal_status" NOT NULL,
    "jurisdiction" CHAR(2) NOT NULL,
    "collateral_type" "collateral_type",
    "collateral_value" DECIMAL(24,4),
    "collateral_valuation_date" DATE,
    "lien_position" INTEGER,
    "extra" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "loan_pkey" PRIMARY KEY ("portfolio_id","loan_id")
);

-- CreateTable
CREATE TABLE "document" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "portfolio_id" UUID NOT NULL,
    "file_name" TEXT NOT NULL,
    "content_type" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "sha256" CHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "document_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_key" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "role" "api_key_role" NOT NULL,
    "prefix" TEXT NOT NULL,
    "key_hash" CHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_key_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "investor" (
    "address" TEXT NOT NULL,
    "allowlisted_until" TIMESTAMPTZ(3),
    "frozen" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "investor_pkey" PRIMARY KEY ("address")
);

-- CreateTable
CREATE TABLE "sign_in_nonce" (
    "nonce" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sign_in_nonce_pkey" PRIMARY KEY ("nonce")
);

-- CreateTable
CREATE TABLE "session" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "token_hash" CHAR(64) NOT NULL,
    "address" TEXT NOT NULL,
    "chain_id" INTEGER NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "revoked_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "session_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "kind" TEXT NOT NULL,
    "status" "job_status" NOT NULL DEFAULT 'queued',
    "portfolio_id" UUID,
    "payload" JSONB NOT NULL DEFAULT '{}',
    "result" JSONB,
    "error" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "job_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_log" (
    "id" BIGSERIAL NOT NULL,
    "actor_type" TEXT NOT NULL,
    "actor_id" TEXT,
    "actor_role" TEXT,
    "action" TEXT NOT NULL,
    "resource_type" TEXT,
    "resource_id" TEXT,
    "status_code" INTEGER,
    "request_id" TEXT,
    "ip" TEXT,
    "details" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_log_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "portfolio_status_created_at_idx" ON "portfolio"("status", "created_at");

-- CreateIndex
CREATE INDEX "portfolio_total_upb_idx" ON "portfolio"("total_upb");

-- CreateIndex
CREATE UNIQUE INDEX "tranche_portfolio_id_seniority_key" ON "tranche"("portfolio_id", "seniority");

-- CreateIndex
CREATE UNIQUE INDEX "document_portfolio_id_sha256_key" ON "document"("portfolio_id", "sha256");

-- CreateIndex
CREATE INDEX "document_sha256_idx" ON "document"("sha256");

-- CreateIndex
CREATE UNIQUE INDEX "api_key_key_hash_key" ON "api_key"("key_hash");

-- CreateIndex
CREATE INDEX "sign_in_nonce_expires_at_idx" ON "sign_in_nonce"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "session_token_hash_key" ON "session"("token_hash");

-- CreateIndex
CREATE INDEX "session_address_idx" ON "session"("address");

-- CreateIndex
CREATE INDEX "job_portfolio_id_created_at_idx" ON "job"("portfolio_id", "created_at");

-- CreateIndex
CREATE INDEX "audit_log_created_at_idx" ON "audit_log"("created_at");

-- CreateIndex
CREATE INDEX "audit_log_resource_type_resource_id_idx" ON "audit_log"("resource_type", "resource_id");

-- AddForeignKey
ALTER TABLE "tranche" ADD CONSTRAINT "tranche_portfolio_id_fkey" FOREIGN KEY ("portfolio_id") REFERENCES "portfolio"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "loan" ADD CONSTRAINT "loan_portfolio_id_fkey" FOREIGN KEY ("portfolio_id") REFERENCES "portfolio"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "document" ADD CONSTRAINT "document_portfolio_id_fkey" FOREIGN KEY ("portfolio_id") REFERENCES "portfolio"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "job" ADD CONSTRAINT "job_portfolio_id_fkey" FOREIGN KEY ("portfolio_id") REFERENCES "portfolio"("id") ON DELETE SET NULL ON UPDATE CASCADE;
