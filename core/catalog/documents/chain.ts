/** The data room's one chain read: the document root a portfolio anchored (`Portfolio.documents()`). */
import { getAddress, type Hex, type PublicClient } from 'viem';
import { portfolioAbi } from '../../chain/generated/portfolio.ts';
import { readChain } from '../../chain/read.ts';

/** `Portfolio.documents()`'s root at the latest block, lowercase. Throws a decoded `ChainError`. */
export async function readAnchoredRoot(client: PublicClient, portfolioAddress: string): Promise<Hex> {
  const [, root] = await readChain('Portfolio', 'documents', () =>
    client.readContract({
      address: getAddress(portfolioAddress),
      abi: portfolioAbi,
      functionName: 'documents',
    }),
  );
  return root.toLowerCase() as Hex;
}
