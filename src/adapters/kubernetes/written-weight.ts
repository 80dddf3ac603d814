// The weight voicectl last wrote, kept on the routing object itself (HTTPRoute, VirtualService,
// InferenceService) as an annotation set in the same update as the weights. It is how the operator tells its
// own unfinished work from a person's edit: a route whose weights differ from status but match this
// annotation is a write of ours that status moved past (a pass died between the two writes), and is finished;
// weights that match neither were changed by someone else, and the rollout pauses with a reason instead of
// silently undoing them (docs/operator.md#hand-edits-and-what-is-served).
//
// One annotation per rollout, because one route may split traffic for several rollouts (one rule each).
import { createHash } from "node:crypto";
import type { VoiceRollout } from "../../core/resource/voicerollout.js";
import { RouteChangedByHandError, undoesHandEdit, type SetWeightOptions } from "../../operator/ports.js";

const PREFIX = "canary-weight.voicectl.dev/";
/** An annotation key's name part is at most 63 characters. */
const NAME_MAX = 63;

/** The annotation key for this rollout: `canary-weight.voicectl.dev/<rollout>` (long names shortened with a hash). */
export function writtenWeightKey(rollout: VoiceRollout): string {
  const name = rollout.metadata.name;
  if (name.length <= NAME_MAX) return PREFIX + name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 10);
  // Cut at NAME_MAX - 11 and keep the cut's last character alphanumeric, as the key's syntax requires.
  const head = name.slice(0, NAME_MAX - hash.length - 1).replace(/[^A-Za-z0-9]+$/, "");
  return `${PREFIX}${head}-${hash}`;
}

interface Annotated {
  metadata?: { annotations?: Record<string, string> | undefined };
}

/** The weight voicectl last wrote to this object for this rollout, or null when it never wrote one. */
export function writtenWeightOf(obj: Annotated, rollout: VoiceRollout): number | null {
  const text = obj.metadata?.annotations?.[writtenWeightKey(rollout)];
  if (text === undefined || !/^\d{1,3}$/.test(text)) return null;
  const weight = Number(text);
  return weight <= 100 ? weight : null;
}

/** Records `weight` as written (in place); returns whether the annotation changed. */
export function markWritten(obj: Annotated, rollout: VoiceRollout, weight: number): boolean {
  if (writtenWeightOf(obj, rollout) === weight) return false;
  const metadata = (obj.metadata ??= {});
  metadata.annotations = { ...metadata.annotations, [writtenWeightKey(rollout)]: String(weight) };
  return true;
}

/**
 * Throws RouteChangedByHandError when writing `weight` to an object whose canary weight is `routed` would undo
 * someone else's edit (design: route-edits.ts in src/operator). Called inside the read-modify-write, so an edit
 * made at any time before our write is seen.
 */
export function refuseToUndoHandEdit(
  obj: Annotated,
  rollout: VoiceRollout,
  routed: number | null,
  weight: number,
  what: string,
  options: SetWeightOptions | undefined,
): void {
  const written = writtenWeightOf(obj, rollout);
  if (options?.overrideHandEdit || !undoesHandEdit(routed, written, weight)) return;
  throw new RouteChangedByHandError(
    `${what} carries canary weight ${routed}%, not the ${written}% voicectl wrote: changed by someone else, not overwritten with ${weight}%`,
    routed!,
    written!,
  );
}
