-- Chain indexer (helper K): cursor, unfinalized blocks, followed contracts, decoded events, holdings.

-- CreateTable
CREATE TABLE "indexer_cursor" (
    "chain_id" INTEGER NOT NULL,
    "indexed_block" BIGINT NOT NULL,
    "indexed_hash" TEXT NOT NULL,
    "finalized_block" BIGINT NOT NULL,
    "head_block" BIGINT NOT NULL,
    "reorgs" INTEGER NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "indexer_cursor_pkey" PRIMARY KEY ("chain_id")
);

-- CreateTable
CREATE TABLE "indexer_block" (
    "chain_id" INTEGER NOT NULL,
    "number" BIGINT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "indexer_block_pkey" PRIMARY KEY ("chain_id", "number")
);

-- CreateTable
CREATE TABLE "indexed_contract" (
    "chain_id" INTEGER NOT NULL,
    "address" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "portfolio" TEXT NOT NULL,
    "tranche_index" INTEGER,
    "block_number" BIGINT NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,

    CONSTRAINT "indexed_contract_pkey" PRIMARY KEY ("chain_id", "address")
);

-- CreateTable
CREATE TABLE "token_transfer" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "tranche" TEXT NOT NULL,
    "from_address" TEXT NOT NULL,
    "to_address" TEXT NOT NULL,
    "value" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "token_transfer_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "token_holding" (
    "chain_id" INTEGER NOT NULL,
    "tranche" TEXT NOT NULL,
    "account" TEXT NOT NULL,
    "balance" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "token_holding_pkey" PRIMARY KEY ("chain_id", "tranche", "account")
);

-- CreateTable
CREATE TABLE "purchase_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "portfolio" TEXT NOT NULL,
    "tranche_id" INTEGER NOT NULL,
    "buyer" TEXT NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "cost" DECIMAL(78,0) NOT NULL,
    "nonce" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "purchase_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "offering_closed_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "portfolio" TEXT NOT NULL,
    "closed_at" BIGINT NOT NULL,
    "sold" JSONB NOT NULL,

    CONSTRAINT "offering_closed_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "recovery_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "portfolio" TEXT NOT NULL,
    "recovery_id" DECIMAL(78,0) NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "servicer_fee" DECIMAL(78,0) NOT NULL,
    "protocol_fee" DECIMAL(78,0) NOT NULL,
    "undistributed" DECIMAL(78,0) NOT NULL,
    "snapshot_block" BIGINT NOT NULL,
    "report_hash" TEXT NOT NULL,

    CONSTRAINT "recovery_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "recovery_event_tranche" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "tranche_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "interest" DECIMAL(78,0) NOT NULL,
    "principal" DECIMAL(78,0) NOT NULL,
    "residual" DECIMAL(78,0) NOT NULL,
    "total" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "recovery_event_tranche_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index", "tranche_index")
);

-- CreateTable
CREATE TABLE "documents_anchored_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "portfolio" TEXT NOT NULL,
    "version" DECIMAL(78,0) NOT NULL,
    "document_root" TEXT NOT NULL,
    "loan_tape_hash" TEXT NOT NULL,

    CONSTRAINT "documents_anchored_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "distributor_funded_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "distributor" TEXT NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "total_funded" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "distributor_funded_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "distributor_root_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "distributor" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "root" TEXT NOT NULL,
    "total" DECIMAL(78,0),
    "tree_hash" TEXT,
    "distribution_id" DECIMAL(78,0),
    "valid_at" BIGINT,

    CONSTRAINT "distributor_root_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "claim_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "distributor" TEXT NOT NULL,
    "account" TEXT NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "cumulative" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "claim_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "order_filled_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "marketplace" TEXT NOT NULL,
    "order_hash" TEXT NOT NULL,
    "maker" TEXT NOT NULL,
    "taker" TEXT NOT NULL,
    "tranche" TEXT NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "cost" DECIMAL(78,0) NOT NULL,
    "fee" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "order_filled_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "order_cancelled_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "marketplace" TEXT NOT NULL,
    "order_hash" TEXT NOT NULL,
    "maker" TEXT NOT NULL,

    CONSTRAINT "order_cancelled_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "counter_incremented_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "marketplace" TEXT NOT NULL,
    "maker" TEXT NOT NULL,
    "new_counter" DECIMAL(78,0) NOT NULL,

    CONSTRAINT "counter_incremented_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateTable
CREATE TABLE "allowlist_event" (
    "chain_id" INTEGER NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "log_index" INTEGER NOT NULL,
    "block_number" BIGINT NOT NULL,
    "registry" TEXT NOT NULL,
    "account" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "expiry" BIGINT,

    CONSTRAINT "allowlist_event_pkey" PRIMARY KEY ("chain_id", "tx_hash", "log_index")
);

-- CreateIndex
CREATE INDEX "indexed_contract_chain_id_block_number_idx" ON "indexed_contract"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "indexed_contract_portfolio_idx" ON "indexed_contract"("portfolio");

-- CreateIndex
CREATE INDEX "token_transfer_chain_id_tranche_block_number_idx" ON "token_transfer"("chain_id", "tranche", "block_number");

-- CreateIndex
CREATE INDEX "token_holding_account_idx" ON "token_holding"("account");

-- CreateIndex
CREATE INDEX "purchase_event_chain_id_portfolio_buyer_nonce_idx" ON "purchase_event"("chain_id", "portfolio", "buyer", "nonce");

-- CreateIndex
CREATE INDEX "purchase_event_chain_id_block_number_idx" ON "purchase_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "offering_closed_event_chain_id_block_number_idx" ON "offering_closed_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "recovery_event_chain_id_portfolio_recovery_id_idx" ON "recovery_event"("chain_id", "portfolio", "recovery_id");

-- CreateIndex
CREATE INDEX "recovery_event_chain_id_block_number_idx" ON "recovery_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "recovery_event_tranche_chain_id_block_number_idx" ON "recovery_event_tranche"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "documents_anchored_event_chain_id_block_number_idx" ON "documents_anchored_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "distributor_funded_event_chain_id_block_number_idx" ON "distributor_funded_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "distributor_root_event_chain_id_distributor_root_idx" ON "distributor_root_event"("chain_id", "distributor", "root");

-- CreateIndex
CREATE INDEX "distributor_root_event_chain_id_block_number_idx" ON "distributor_root_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "claim_event_account_idx" ON "claim_event"("account");

-- CreateIndex
CREATE INDEX "claim_event_chain_id_block_number_idx" ON "claim_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "order_filled_event_order_hash_idx" ON "order_filled_event"("order_hash");

-- CreateIndex
CREATE INDEX "order_filled_event_chain_id_tranche_block_number_idx" ON "order_filled_event"("chain_id", "tranche", "block_number");

-- CreateIndex
CREATE INDEX "order_filled_event_chain_id_block_number_idx" ON "order_filled_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "order_cancelled_event_order_hash_idx" ON "order_cancelled_event"("order_hash");

-- CreateIndex
CREATE INDEX "order_cancelled_event_chain_id_block_number_idx" ON "order_cancelled_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "counter_incremented_event_maker_idx" ON "counter_incremented_event"("maker");

-- CreateIndex
CREATE INDEX "counter_incremented_event_chain_id_block_number_idx" ON "counter_incremented_event"("chain_id", "block_number");

-- CreateIndex
CREATE INDEX "allowlist_event_account_idx" ON "allowlist_event"("account");

-- CreateIndex
CREATE INDEX "allowlist_event_chain_id_block_number_idx" ON "allowlist_event"("chain_id", "block_number");
