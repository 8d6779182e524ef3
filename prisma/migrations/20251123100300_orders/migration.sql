-- Orders (helper M): the secondary order book and relayed fills.

-- CreateEnum
CREATE TYPE "order_status" AS ENUM ('open', 'filled', 'cancelled', 'expired');

-- CreateEnum
CREATE TYPE "order_fill_status" AS ENUM ('pending', 'confirmed', 'failed');

-- CreateTable
CREATE TABLE "sell_order" (
    "hash" TEXT NOT NULL,
    "chain_id" INTEGER NOT NULL,
    "marketplace" TEXT NOT NULL,
    "tranche_id" UUID NOT NULL,
    "portfolio_id" UUID NOT NULL,
    "maker" TEXT NOT NULL,
    "taker" TEXT NOT NULL,
    "tranche" TEXT NOT NULL,
    "pay_token" TEXT NOT NULL,
    "sell_amount" DECIMAL(78,0) NOT NULL,
    "price" DECIMAL(78,0) NOT NULL,
    "price_key" DECIMAL(240,0) NOT NULL,
    "expiry" DECIMAL(78,0) NOT NULL,
    "salt" DECIMAL(78,0) NOT NULL,
    "counter" DECIMAL(78,0) NOT NULL,
    "partial_fill" BOOLEAN NOT NULL,
    "signature" TEXT NOT NULL,
    "status" "order_status" NOT NULL DEFAULT 'open',
    "cancel_signature" TEXT,
    "cancelled_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sell_order_pkey" PRIMARY KEY ("hash")
);

-- CreateTable
CREATE TABLE "order_fill" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "order_hash" TEXT NOT NULL,
    "taker" TEXT NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "max_cost" DECIMAL(78,0) NOT NULL,
    "nonce" DECIMAL(78,0) NOT NULL,
    "deadline" DECIMAL(78,0) NOT NULL,
    "signature" TEXT NOT NULL,
    "status" "order_fill_status" NOT NULL DEFAULT 'pending',
    "idempotency_key" TEXT NOT NULL,
    "relay_tx_id" TEXT,
    "tx_hash" TEXT,
    "cost" DECIMAL(78,0),
    "fee" DECIMAL(78,0),
    "block_number" BIGINT,
    "failure_code" TEXT,
    "failure_reason" TEXT,
    "settled_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "order_fill_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "sell_order_tranche_status_price_key_idx" ON "sell_order"("tranche", "status", "price_key");

-- CreateIndex
CREATE INDEX "sell_order_maker_status_idx" ON "sell_order"("maker", "status");

-- CreateIndex
CREATE UNIQUE INDEX "order_fill_idempotency_key_key" ON "order_fill"("idempotency_key");

-- CreateIndex
CREATE UNIQUE INDEX "order_fill_taker_nonce_key" ON "order_fill"("taker", "nonce");

-- CreateIndex
CREATE INDEX "order_fill_order_hash_status_idx" ON "order_fill"("order_hash", "status");

-- AddForeignKey
ALTER TABLE "order_fill" ADD CONSTRAINT "order_fill_order_hash_fkey" FOREIGN KEY ("order_hash") REFERENCES "sell_order"("hash") ON DELETE CASCADE ON UPDATE CASCADE;
