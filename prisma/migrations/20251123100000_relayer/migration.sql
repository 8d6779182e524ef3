-- Relayer (issue 4): nonce manager, relayed transactions and their signed variants.

-- CreateEnum
CREATE TYPE "relay_tx_status" AS ENUM ('pending', 'mined', 'reverted', 'failed');

-- CreateTable
CREATE TABLE "relay_nonce" (
    "chain_id" INTEGER NOT NULL,
    "address" TEXT NOT NULL,
    "next_nonce" BIGINT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "relay_nonce_pkey" PRIMARY KEY ("chain_id", "address")
);

-- CreateTable
CREATE TABLE "relay_tx" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "idempotency_key" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "ref_id" TEXT,
    "chain_id" INTEGER NOT NULL,
    "from_address" TEXT NOT NULL,
    "nonce" BIGINT NOT NULL,
    "to_address" TEXT NOT NULL,
    "data" TEXT NOT NULL,
    "gas" BIGINT NOT NULL,
    "max_fee_per_gas" BIGINT NOT NULL,
    "max_priority_fee_per_gas" BIGINT NOT NULL,
    "tx_hash" TEXT NOT NULL,
    "raw_tx" TEXT NOT NULL,
    "status" "relay_tx_status" NOT NULL DEFAULT 'pending',
    "revert_reason" TEXT,
    "error_name" TEXT,
    "error_code" TEXT,
    "block_number" BIGINT,
    "attempts" INTEGER NOT NULL DEFAULT 1,
    "sent_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "relay_tx_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "relay_tx_attempt" (
    "tx_hash" TEXT NOT NULL,
    "relay_tx_id" UUID NOT NULL,
    "max_fee_per_gas" BIGINT NOT NULL,
    "max_priority_fee_per_gas" BIGINT NOT NULL,
    "raw_tx" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "relay_tx_attempt_pkey" PRIMARY KEY ("tx_hash")
);

-- CreateIndex
CREATE UNIQUE INDEX "relay_tx_idempotency_key_key" ON "relay_tx"("idempotency_key");

-- CreateIndex
CREATE INDEX "relay_tx_chain_id_from_address_status_nonce_idx" ON "relay_tx"("chain_id", "from_address", "status", "nonce");

-- CreateIndex
CREATE INDEX "relay_tx_kind_ref_id_idx" ON "relay_tx"("kind", "ref_id");

-- CreateIndex
CREATE INDEX "relay_tx_attempt_relay_tx_id_idx" ON "relay_tx_attempt"("relay_tx_id");

-- AddForeignKey
ALTER TABLE "relay_tx_attempt" ADD CONSTRAINT "relay_tx_attempt_relay_tx_id_fkey" FOREIGN KEY ("relay_tx_id") REFERENCES "relay_tx"("id") ON DELETE CASCADE ON UPDATE CASCADE;
