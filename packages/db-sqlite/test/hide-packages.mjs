/**
 * `node --import ./test/hide-packages.mjs`: makes the packages named in `BUDDY_HIDE_PACKAGES`
 * (comma-separated) unresolvable in this process, exactly as if they were not installed
 * (`ERR_MODULE_NOT_FOUND` from the resolver), so tests can run the real code paths of a missing
 * optional peer. Used only by this package's child-process tests.
 */
import { register } from 'node:module';

const hidden = (process.env.BUDDY_HIDE_PACKAGES ?? '').split(',').filter((name) => name !== '');

const hooks = `
const hidden = ${JSON.stringify(hidden)};
export async function resolve(specifier, context, nextResolve) {
  const name = hidden.find((entry) => specifier === entry || specifier.startsWith(entry + '/'));
  if (name !== undefined) {
    const error = new Error("Cannot find package '" + name + "' imported from " + context.parentURL);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return nextResolve(specifier, context);
}
`;

register(`data:text/javascript,${encodeURIComponent(hooks)}`);
