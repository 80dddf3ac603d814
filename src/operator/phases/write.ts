// Phase 9 of a pass: the status write, the pass's one commitment. Everything after it makes the world follow
// what it says, and a pass that dies after it is finished by the next one from the stored status.
import type { VoiceRollout, VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import { ConflictError } from "../ports.js";
import { sameStatus } from "../status.js";
import type { Pass } from "./pass.js";

/** How many times a status write lost to a metadata-only change is tried before deciding again. */
const ATTEMPTS = 5;

/**
 * Writes `next` unless it is what is stored; the rollout as stored afterwards. null when the write lost a
 * race to a change of spec or status: nothing may follow it, the pass is decided again.
 */
export async function writeStatus(pass: Pass, next: VoiceRolloutStatus): Promise<VoiceRollout | null> {
  const { ports, ref, rollout, previous, log } = pass;
  if (sameStatus(previous, next)) return rollout;
  // A write that changed neither spec nor status (labels, annotations: another tool's metadata) leaves this
  // pass's decision standing, so the status is written again on the fresh version; otherwise a busy writer
  // of metadata could win every race and starve the rollout. Any other change means deciding again.
  let base = rollout;
  for (let attempt = 1; ; attempt++) {
    try {
      return await ports.rollouts.updateStatus(base, next);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      const fresh = attempt < ATTEMPTS ? await ports.rollouts.get(ref) : null;
      const unchanged =
        fresh !== null &&
        fresh.metadata.generation === rollout.metadata.generation &&
        sameStatus(fresh.status, previous);
      if (!unchanged) {
        log.debug("status write lost a race; reconciling again", {});
        return null;
      }
      log.debug("status write lost a race to a metadata-only change; writing again", { attempt });
      base = fresh;
    }
  }
}
