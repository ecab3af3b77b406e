// How an entry is paid for (docs/contract.md, Entries, rollover and loyalty): rollover
// credits first, then the free entry, then paid entries at price_unit × (1² + 2² + … +
// paid²). Mirrors drop/domain/pricing.py.

const sumOfSquares = (n) => (n * (n + 1) * (2 * n + 1)) / 6;

export function entryBreakdown(tickets, rolloverBalance, priceUnit) {
  const rolloverUsed = Math.min(Math.max(rolloverBalance, 0), tickets);
  const remaining = tickets - rolloverUsed;
  const freeUsed = remaining > 0 ? 1 : 0;
  const paidEntries = remaining - freeUsed;
  return { tickets, rolloverUsed, freeUsed, paidEntries, cost: priceUnit * sumOfSquares(paidEntries) };
}
