/**
 * Stream parts checked at the adapter boundary, with the core's checks (`checkStreamPart`,
 * `checkWarnings`): whatever the provider sent, a caller only sees well-formed parts, and a
 * malformed one (usage that is not a count, a delta that is not text) is `MODEL_BAD_RESPONSE`.
 */
import { BuddyError, describeValue, type ModelStreamPart } from '@buddy/core';
import { checkStreamPart, checkWarnings } from '@buddy/core/adapter-utils';

/** Yields every part of `parts` checked; `who` names the model in errors. */
export async function* checkedStream(
  parts: AsyncIterable<ModelStreamPart>,
  who: string,
): AsyncGenerator<ModelStreamPart> {
  for await (const part of parts) {
    const checked = checkStreamPart(part, who);
    if (checked === undefined) continue;
    if (checked.type === 'finish') {
      // checkStreamPart keeps usage and finish reason only; the warnings are checked here.
      const warnings = checkWarnings((part as { warnings?: unknown }).warnings, who);
      yield warnings === undefined ? checked : { ...checked, warnings };
    } else if (checked.type === 'tool-call-delta') {
      const { toolCallId, toolName, argumentsDelta } = checked;
      if (
        typeof toolCallId !== 'string' ||
        typeof argumentsDelta !== 'string' ||
        (toolName !== undefined && typeof toolName !== 'string')
      ) {
        throw new BuddyError({
          code: 'MODEL_BAD_RESPONSE',
          message: `${who} answered with a tool call delta that is not text (${describeValue(part)})`,
        });
      }
      yield checked;
    } else {
      yield checked;
    }
  }
}
