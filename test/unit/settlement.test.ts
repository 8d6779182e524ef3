/**
 * The settlement state machine's pure part (core/trading/settlement.ts `decideSettlement`): every relay row
 * status against the index (event found or not, final or not, index behind or past the mined block).
 */
import { describe, expect, it } from 'vitest';
import {
  decideSettlement,
  type IndexSnapshot,
  type RelayRowSnapshot,
  relayFailure,
  relayIsLive,
  relayIsPending,
} from '../../core/trading/settlement.ts';

const relay = (status: string, overrides: Partial<RelayRowSnapshot> = {}): RelayRowSnapshot => ({
  id: 'r1',
  txHash: '0xaa',
  status,
  blockNumber: status === 'mined' || status === 'reverted' ? 100n : null,
  ...overrides,
});
const index = (indexedBlock: bigint, finalizedBlock: bigint): IndexSnapshot => ({
  indexedBlock,
  finalizedBlock,
});
const event = (blockNumber: bigint) => ({ blockNumber, txHash: '0xaa' });

describe('decideSettlement', () => {
  it('no relay row, or a relay row still pending (any status it may get), is pending', () => {
    for (const r of [null, relay('pending'), relay('unknown'), relay('nonce-used-no-receipt')]) {
      expect(
        decideSettlement({ relay: r, event: null, index: index(200n, 190n), expectsEvent: true }),
      ).toEqual({ state: 'pending', event: null, reorged: false });
    }
  });

  it('mined, the index not at its block yet: mined (awaiting the index)', () => {
    for (const i of [null, index(99n, 90n)]) {
      expect(
        decideSettlement({ relay: relay('mined'), event: null, index: i, expectsEvent: true }),
      ).toMatchObject({ state: 'mined', event: null, blockNumber: 100n });
    }
  });

  it('the event indexed above the finalized block: mined; at or below it: confirmed', () => {
    const e = event(100n);
    expect(
      decideSettlement({ relay: relay('mined'), event: e, index: index(102n, 99n), expectsEvent: true }),
    ).toEqual({ state: 'mined', event: e, blockNumber: 100n });
    for (const finalized of [100n, 150n]) {
      expect(
        decideSettlement({
          relay: relay('mined'),
          event: e,
          index: index(150n, finalized),
          expectsEvent: true,
        }),
      ).toEqual({ state: 'confirmed', event: e, blockNumber: 100n });
    }
  });

  it('mined, the index past its block without the event: a reorg removed it, back to pending', () => {
    for (const i of [index(100n, 90n), index(130n, 90n), index(130n, 120n)]) {
      expect(decideSettlement({ relay: relay('mined'), event: null, index: i, expectsEvent: true })).toEqual({
        state: 'pending',
        event: null,
        reorged: true,
      });
    }
  });

  it('re-included at another block after a reorg: the event decides (its block, its finality)', () => {
    const moved = event(104n);
    const row = relay('mined', { blockNumber: 100n });
    expect(
      decideSettlement({ relay: row, event: moved, index: index(105n, 103n), expectsEvent: true }),
    ).toEqual({
      state: 'mined',
      event: moved,
      blockNumber: 104n,
    });
    expect(
      decideSettlement({ relay: row, event: moved, index: index(110n, 104n), expectsEvent: true }),
    ).toEqual({
      state: 'confirmed',
      event: moved,
      blockNumber: 104n,
    });
  });

  it('the event outranks a relay row that says reverted or failed (the transaction landed after all)', () => {
    const e = event(100n);
    for (const r of [relay('reverted'), relay('failed'), null]) {
      expect(
        decideSettlement({ relay: r, event: e, index: index(110n, 105n), expectsEvent: true }).state,
      ).toBe('confirmed');
    }
  });

  it('reverted: mined until its block is final, then failed with the decoded reason', () => {
    const row = relay('reverted', {
      errorName: 'OfferingSoldOut',
      errorCode: 'SOLD_OUT',
      revertReason: 'sold out',
    });
    expect(
      decideSettlement({ relay: row, event: null, index: index(101n, 99n), expectsEvent: true }),
    ).toEqual({
      state: 'mined',
      event: null,
      blockNumber: 100n,
    });
    expect(decideSettlement({ relay: row, event: null, index: null, expectsEvent: true }).state).toBe(
      'mined',
    );
    expect(
      decideSettlement({ relay: row, event: null, index: index(101n, 100n), expectsEvent: true }),
    ).toEqual({
      state: 'failed',
      event: null,
      failure: { code: 'SOLD_OUT', reason: 'sold out' },
      blockNumber: 100n,
    });
  });

  it('given up by the relayer (no block): failed at once', () => {
    const row = relay('failed', { revertReason: 'rejected by the node', errorCode: 'SERVICE_UNAVAILABLE' });
    expect(decideSettlement({ relay: row, event: null, index: null, expectsEvent: true })).toEqual({
      state: 'failed',
      event: null,
      failure: { code: 'SERVICE_UNAVAILABLE', reason: 'rejected by the node' },
      blockNumber: null,
    });
  });

  it('an action without an indexed event: mined until its block is final, then confirmed', () => {
    const row = relay('mined');
    expect(
      decideSettlement({ relay: row, event: null, index: index(120n, 99n), expectsEvent: false }),
    ).toEqual({
      state: 'mined',
      event: null,
      blockNumber: 100n,
    });
    expect(
      decideSettlement({ relay: row, event: null, index: index(120n, 100n), expectsEvent: false }),
    ).toEqual({
      state: 'confirmed',
      event: null,
      blockNumber: 100n,
    });
  });
});

describe('relay row helpers', () => {
  it('relayFailure: the decoded error code, else the dropped or reverted defaults', () => {
    expect(relayFailure(relay('reverted', { errorName: 'OfferingSoldOut' }))).toEqual({
      code: 'SOLD_OUT',
      reason: 'OfferingSoldOut',
    });
    expect(relayFailure(relay('failed'))).toEqual({ code: 'SERVICE_UNAVAILABLE', reason: 'dropped' });
    expect(relayFailure(relay('reverted'))).toEqual({ code: 'CONFLICT', reason: 'reverted' });
  });

  it('relayIsPending: anything but mined, reverted, failed', () => {
    expect(['pending', 'unknown', 'mined', 'reverted', 'failed'].map(relayIsPending)).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('relayIsLive: a revert in a block that is not final may still be re-included', () => {
    expect(relayIsLive(relay('pending'), null)).toBe(true);
    expect(relayIsLive(relay('mined'), index(200n, 200n))).toBe(true);
    expect(relayIsLive(relay('failed'), null)).toBe(false);
    expect(relayIsLive(relay('reverted'), index(100n, 99n))).toBe(true);
    expect(relayIsLive(relay('reverted'), null)).toBe(true);
    expect(relayIsLive(relay('reverted'), index(100n, 100n))).toBe(false);
  });
});
