/**
 * The portfolio lifecycle's pure checks (draft → publishing → published, back to draft when a publish
 * fails), over a snapshot of the row: what may change, and what may be read, in which state. No I/O:
 * the services call them before they write (and again under the row lock where a race matters), the
 * unit tests call them on plain data. Each throws the API's 409 with the message clients see.
 */
import type { PortfolioStatus } from '../db/index.ts';
import { ConflictError } from '../platform/errors/index.ts';

export type { PortfolioStatus };

/** What a publish request needs to know of a portfolio. */
export type PublishSnapshot = {
  status: PortfolioStatus;
  tapeSha256: string | null;
  trancheCount: number;
  /** waterfall spec v2 terms of the draft (null: none) */
  reserveTargetBps?: number | null;
  triggerCollectionRatioBps?: number | null;
  /** points of the draft's business plan */
  businessPlanPoints?: number;
};

/**
 * 409 unless the portfolio is a draft with a loan tape and tranches, and a business plan when it has a
 * collection-ratio trigger (the trigger is measured against it: `details.missing: ["businessPlan"]`).
 */
export function assertPublishable(portfolio: PublishSnapshot): void {
  if (portfolio.status === 'published') throw new ConflictError('Portfolio is already published');
  if (portfolio.status === 'publishing') {
    throw new ConflictError('Portfolio is being published; poll its publish job (GET /v1/jobs/:id)');
  }
  const missing = [
    portfolio.tapeSha256 === null ? 'loanTape' : null,
    portfolio.trancheCount === 0 ? 'tranches' : null,
    portfolio.triggerCollectionRatioBps != null && (portfolio.businessPlanPoints ?? 0) === 0
      ? 'businessPlan'
      : null,
  ].filter((m): m is string => m !== null);
  if (missing.length > 0) {
    throw new ConflictError(
      portfolio.tapeSha256 === null
        ? 'Upload the loan tape first (PUT /v1/portfolios/:id/loan-tape): a portfolio is published with its tape hash'
        : portfolio.trancheCount === 0
          ? 'The portfolio has no tranches'
          : 'The trigger needs a business plan (PUT /v1/portfolios/:id/business-plan)',
      { details: { missing } },
    );
  }
}

/** The data room takes documents only in draft: from publish on, its root is anchored on-chain. */
export const acceptsDocuments = (status: PortfolioStatus): boolean => status === 'draft';

/** 409 unless the data room still takes documents. */
export function assertDataRoomOpen(status: PortfolioStatus): void {
  if (!acceptsDocuments(status)) {
    throw new ConflictError(
      `Portfolio is ${status}; the data room is frozen once its root is anchored on-chain`,
    );
  }
}

/** 409 unless the loan tape may still change (draft only: a portfolio is published with its tape hash). */
export function assertTapeEditable(status: PortfolioStatus): void {
  if (status !== 'draft')
    throw new ConflictError(`Portfolio is ${status}; the loan tape can only change in draft`);
}

/** 409 until the portfolio is published with a document root: before that there is nothing to prove against. */
export function assertDataRoomAnchored(portfolio: {
  id: string;
  status: PortfolioStatus;
  documentRoot: string | null;
}): void {
  if (portfolio.status !== 'published' || portfolio.documentRoot === null) {
    throw new ConflictError(
      'The data room of this portfolio is not anchored yet (the portfolio is not published)',
      {
        details: {
          portfolioId: portfolio.id,
          status: portfolio.status,
        },
      },
    );
  }
}
