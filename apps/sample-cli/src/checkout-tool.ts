/**
 * The `checkout` tool: pays for the cart. It needs approval (`tool({ needsApproval: true })`):
 * every call pauses the run until a person allows or denies it (the REPL asks `Allow
 * checkout({"total":…})? [y/N]`), and only an allowed call runs. The store's prices are part of
 * the agent's instructions (`PRICE_LIST`), so the model can compute the total it passes; the tool
 * checks that total against the cart before it charges anything.
 */
import { tool } from '@buddy/core';
import { z } from 'zod';

/** What an item costs when the price list does not name it, in cents. */
const DEFAULT_PRICE_CENTS = 300;

/** The demo store's prices, in cents. */
const PRICES_CENTS: Readonly<Record<string, number>> = {
  milk: 120,
  'oat milk': 210,
  eggs: 320,
  bread: 280,
  butter: 250,
  apples: 240,
  coffee: 650,
};

function formatCents(cents: number): string {
  return (cents / 100).toFixed(2);
}

/** The price list as the agent's instructions state it (the offline model reads it there). */
export const PRICE_LIST = `Prices (USD): ${Object.entries(PRICES_CENTS)
  .map(([item, cents]) => `${item} ${formatCents(cents)}`)
  .join(', ')}; anything else ${formatCents(DEFAULT_PRICE_CENTS)}.`;

function priceCents(item: string): number {
  return PRICES_CENTS[item.trim().toLowerCase()] ?? DEFAULT_PRICE_CENTS;
}

/** What the cart costs, in dollars (exact to the cent). */
export function cartTotal(cart: readonly string[]): number {
  return cart.reduce((cents, item) => cents + priceCents(item), 0) / 100;
}

/**
 * Pays for `sessionState.cart` and empties it. Needs approval; a total that does not match the
 * cart, or an empty cart, is an error for the model and charges nothing.
 */
export const checkout = tool({
  name: 'checkout',
  description:
    "Pay for the user's cart: charges its total (from the price list) and empties the cart. The user approves every checkout.",
  parameters: z.object({
    total: z.number().positive().describe('The cart total in USD, e.g. 8.1'),
  }),
  needsApproval: true,
  execute: ({ total }, { sessionState }) => {
    const cart = Array.isArray(sessionState.cart) ? (sessionState.cart as string[]) : [];
    if (cart.length === 0) throw new Error('the cart is empty: there is nothing to pay for');
    const expected = cartTotal(cart);
    if (Math.round(total * 100) !== Math.round(expected * 100)) {
      throw new Error(
        `the cart (${cart.join(', ')}) costs $${expected.toFixed(2)}, not $${total.toFixed(2)}; nothing was charged`,
      );
    }
    sessionState.cart = [];
    return `Paid $${expected.toFixed(2)} for ${cart.length} item(s): ${cart.join(', ')}. The cart is empty now.`;
  },
});
