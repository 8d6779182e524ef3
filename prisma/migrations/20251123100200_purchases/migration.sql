-- Purchases (helper L): quotes and relayed primary purchases.

-- CreateEnum
CREATE TYPE "purchase_status" AS ENUM ('pending', 'confirmed', 'failed');

-- CreateTable
CREATE TABLE "quote" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "tranche_id" UUID NOT NULL,
    "chain_id" INTEGER NOT NULL,
    "portfolio_address" TEXT NOT NULL,
    "tranche_index" INTEGER NOT NULL,
    "buyer" TEXT NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "cost" DECIMAL(78,0) NOT NULL,
    "nonce" DECIMAL(78,0) NOT NULL,
    "deadline" BIGINT NOT NULL,
    "pay_token" TEXT NOT NULL,
    "permit_name" TEXT NOT NULL,
    "permit_version" TEXT NOT NULL,
    "permit_nonce" DECIMAL(78,0) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "quote_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "purchase" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "quote_id" UUID NOT NULL,
    "tranche_id" UUID NOT NULL,
    "buyer" TEXT NOT NULL,
    "status" "purchase_status" NOT NULL DEFAULT 'pending',
    "idempotency_key" TEXT NOT NULL,
    "relay_tx_id" TEXT,
    "tx_hash" TEXT,
    "tokens" DECIMAL(78,0),
    "cost" DECIMAL(78,0),
    "block_number" BIGINT,
    "failure_code" TEXT,
    "failure_reason" TEXT,
    "settled_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "purchase_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "quote_tranche_id_created_at_idx" ON "quote"("tranche_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "purchase_quote_id_key" ON "purchase"("quote_id");

-- CreateIndex
CREATE UNIQUE INDEX "purchase_idempotency_key_key" ON "purchase"("idempotency_key");

-- CreateIndex
CREATE INDEX "purchase_tranche_id_status_idx" ON "purchase"("tranche_id", "status");

-- CreateIndex
CREATE INDEX "purchase_buyer_created_at_idx" ON "purchase"("buyer", "created_at");

-- AddForeignKey
ALTER TABLE "purchase" ADD CONSTRAINT "purchase_quote_id_fkey" FOREIGN KEY ("quote_id") REFERENCES "quote"("id") ON DELETE CASCADE ON UPDATE CASCADE;
