-- Distributions (helper R): Merkle distributions of recoveries, per holder and per tranche (dust carry).

-- CreateEnum
CREATE TYPE "distribution_status" AS ENUM ('computing', 'proposed', 'claimable', 'paid', 'failed');

-- CreateTable
CREATE TABLE "distribution" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "portfolio_id" UUID NOT NULL,
    "chain_id" INTEGER NOT NULL,
    "portfolio" TEXT NOT NULL,
    "recovery_tx_hash" TEXT NOT NULL,
    "recovery_log_index" INTEGER NOT NULL,
    "recovery_id" DECIMAL(78,0) NOT NULL,
    "snapshot_block" BIGINT NOT NULL,
    "status" "distribution_status" NOT NULL DEFAULT 'computing',
    "snapshot_at" TIMESTAMPTZ(3),
    "computed_at" TIMESTAMPTZ(3),
    "root" TEXT,
    "total" DECIMAL(78,0),
    "payout" DECIMAL(78,0),
    "tree_hash" TEXT,
    "tree_path" TEXT,
    "propose_tx" TEXT,
    "accept_tx" TEXT,
    "valid_at" BIGINT,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "distribution_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "distribution_holder" (
    "distribution_id" UUID NOT NULL,
    "account" TEXT NOT NULL,
    "payout" DECIMAL(78,0) NOT NULL,
    "cumulative" DECIMAL(78,0) NOT NULL,
    "pushed_tx" TEXT,

    CONSTRAINT "distribution_holder_pkey" PRIMARY KEY ("distribution_id","account")
);

-- CreateTable
CREATE TABLE "distribution_tranche" (
    "distribution_id" UUID NOT NULL,
    "tranche_index" INTEGER NOT NULL,
    "tranche" TEXT NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "carry_in" DECIMAL(78,0) NOT NULL,
    "distributed" DECIMAL(78,0) NOT NULL,
    "dust_out" DECIMAL(78,0) NOT NULL,
    "supply" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "distribution_tranche_pkey" PRIMARY KEY ("distribution_id","tranche_index")
);

-- CreateIndex
CREATE UNIQUE INDEX "distribution_chain_id_recovery_tx_hash_recovery_log_index_key" ON "distribution"("chain_id", "recovery_tx_hash", "recovery_log_index");

-- CreateIndex
CREATE INDEX "distribution_portfolio_id_recovery_id_idx" ON "distribution"("portfolio_id", "recovery_id");

-- AddForeignKey
ALTER TABLE "distribution_holder" ADD CONSTRAINT "distribution_holder_distribution_id_fkey" FOREIGN KEY ("distribution_id") REFERENCES "distribution"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "distribution_tranche" ADD CONSTRAINT "distribution_tranche_distribution_id_fkey" FOREIGN KEY ("distribution_id") REFERENCES "distribution"("id") ON DELETE CASCADE ON UPDATE CASCADE;
