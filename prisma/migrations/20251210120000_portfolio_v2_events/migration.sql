-- Chain indexer, spec-v2 Portfolio events (issue 12): RecoveryTriggerAndReserve, ReserveFunded,
-- ResolutionProposed, ResolutionVetoed and PortfolioResolved, one table each, keyed and rolled back on a
-- reorg like the other event tables (chain_id, tx_hash, log_index; block_number). PortfolioResolved's
-- per-tranche write-off arrays go one row per tranche into portfolio_resolved_event_tranche, as
-- RecoveryDistributed's arrays go into recovery_event_tranche.

-- CreateTable
CREATE TABLE "recovery_trigger_reserve_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "portfolio" TEXT NOT NULL,
    "recovery_id" DECIMAL(78,0) NOT NULL,
    "trigger_breached" BOOLEAN NOT NULL,
    "collected" DECIMAL(78,0) NOT NULL,
    "planned" DECIMAL(78,0) NOT NULL,
    "released" DECIMAL(78,0) NOT NULL,
    "drawn" DECIMAL(78,0) NOT NULL,
    "replenished" DECIMAL(78,0) NOT NULL,
    "reserve_balance" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "recovery_trigger_reserve_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "reserve_funded_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "portfolio" TEXT NOT NULL,
    "from_address" TEXT NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "balance" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "reserve_funded_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "resolution_proposed_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "portfolio" TEXT NOT NULL,
    "executable_at" BIGINT NOT NULL,

    CONSTRAINT "resolution_proposed_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "resolution_vetoed_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "portfolio" TEXT NOT NULL,
    "guardian" TEXT NOT NULL,
    "executable_at" BIGINT NOT NULL,

    CONSTRAINT "resolution_vetoed_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "portfolio_resolved_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "portfolio" TEXT NOT NULL,
    "recovery_id" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "portfolio_resolved_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "portfolio_resolved_event_tranche" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "tranche_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "principal_written_off" DECIMAL(78,0) NOT NULL,
    "interest_written_off" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "portfolio_resolved_event_tranche_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index", "tranche_index")
);

-- CreateIndex
CREATE INDEX "recovery_trigger_reserve_event_portfolio_recovery_id_idx" ON "recovery_trigger_reserve_event"("chain_id", "portfolio", "recovery_id");

-- CreateIndex
CREATE INDEX "recovery_trigger_reserve_event_chain_id_block_number_idx" ON "recovery_trigger_reserve_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "reserve_funded_event_chain_id_portfolio_idx" ON "reserve_funded_event"("chain_id", "portfolio");

-- CreateIndex
CREATE INDEX "reserve_funded_event_chain_id_block_number_idx" ON "reserve_funded_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "resolution_proposed_event_chain_id_portfolio_idx" ON "resolution_proposed_event"("chain_id", "portfolio");

-- CreateIndex
CREATE INDEX "resolution_proposed_event_chain_id_block_number_idx" ON "resolution_proposed_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "resolution_vetoed_event_chain_id_portfolio_idx" ON "resolution_vetoed_event"("chain_id", "portfolio");

-- CreateIndex
CREATE INDEX "resolution_vetoed_event_chain_id_block_number_idx" ON "resolution_vetoed_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "portfolio_resolved_event_chain_id_portfolio_idx" ON "portfolio_resolved_event"("chain_id", "portfolio");

-- CreateIndex
CREATE INDEX "portfolio_resolved_event_chain_id_block_number_idx" ON "portfolio_resolved_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "portfolio_resolved_event_tranche_chain_id_block_number_idx" ON "portfolio_resolved_event_tranche"("chain_id", "block_number");
