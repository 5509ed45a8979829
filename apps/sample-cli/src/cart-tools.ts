/**
 * The cart tools of the sample app: they change the session state, which Buddy persists with the
 * run and templates into the next prompt (`{cart}` in the instructions).
 */
import { tool } from '@buddy/core';
import { z } from 'zod';

function cartOf(state: Record<string, unknown>): string[] {
  const cart = state.cart;
  if (Array.isArray(cart)) return cart as string[];
  const fresh: string[] = [];
  state.cart = fresh;
  return fresh;
}

/** Adds an item to `sessionState.cart`. */
export const addToCart = tool({
  name: 'add_to_cart',
  description: "Add an item to the user's shopping cart.",
  parameters: z.object({ item: z.string().min(1).describe('The item, e.g. "oat milk"') }),
  execute: ({ item }, { agent }) => {
    const cart = cartOf(agent.sessionState);
    cart.push(item);
    return `Added ${item}. The cart now has ${cart.length} item(s): ${cart.join(', ')}.`;
  },
});

/** Removes an item from `sessionState.cart`; an item not in the cart is an error for the model. */
export const removeFromCart = tool({
  name: 'remove_from_cart',
  description: "Remove an item from the user's shopping cart.",
  parameters: z.object({ item: z.string().min(1) }),
  execute: ({ item }, { sessionState }) => {
    const cart = cartOf(sessionState);
    const index = cart.findIndex((entry) => entry.toLowerCase() === item.toLowerCase());
    if (index === -1)
      throw new Error(`${item} is not in the cart (it holds: ${cart.join(', ') || 'nothing'})`);
    cart.splice(index, 1);
    return `Removed ${item}. The cart now has ${cart.length} item(s).`;
  },
});

/** Both cart tools, as the agent gets them. */
export const cartTools = [addToCart, removeFromCart];
