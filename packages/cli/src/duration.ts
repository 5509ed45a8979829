/**
 * Durations on the command line: `30d`, `12h`, `90m`, `45s`, `2w` (a number and a unit).
 */
import { usageError } from './cli-errors.ts';

const UNITS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Milliseconds of a duration such as `30d`; a usage error naming the option otherwise. */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(text.trim());
  if (match === null) {
    throw usageError(
      `${option} must be a duration such as 30d, 12h, 90m, 45s or 2w, got ${JSON.stringify(text)}`,
    );
  }
  return Number(match[1]) * (UNITS[match[2] as string] as number);
}

/** A whole number option (`--keep-last-runs 10`); a usage error otherwise. */
export function parseCount(text: string, option: string): number {
  if (!/^\d+$/.test(text.trim())) {
    throw usageError(`${option} must be a whole number, got ${JSON.stringify(text)}`);
  }
  return Number(text.trim());
}
