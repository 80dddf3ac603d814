// Exit codes, in one place (sysexits.h for the user's mistakes).
import type { Decision } from "../core/types.js";

export const EXIT = {
  promote: 0,
  rollback: 1,
  pause: 2,
  usage: 64, // EX_USAGE: the command line is wrong
  dataError: 65, // EX_DATAERR: a policy or data file is malformed
  noInput: 66, // EX_NOINPUT: a file is missing or unreadable
  unavailable: 69, // EX_UNAVAILABLE: a service (the Kubernetes API) cannot be reached or is failing
  internal: 70, // EX_SOFTWARE: a bug in voicectl
  // A script that approves or aborts must tell "there is no such rollout" (a typo, the wrong namespace or
  // cluster) from "it exists but its phase does not take this action" (approve before the pause, abort after
  // the end): both used to be 64, like a mistyped flag.
  notFound: 67, // EX_NOUSER, "addressee unknown": no such rollout (or no VoiceRollout kind on the cluster)
  wrongState: 75, // EX_TEMPFAIL: the rollout's phase does not accept this action now; nothing was recorded
  noPermission: 77, // EX_NOPERM: the cluster refused the user (RBAC, an admission policy)
  config: 78, // EX_CONFIG: no kubeconfig found, or one that names no usable cluster
} as const;

export function exitForDecision(d: Decision): number {
  return EXIT[d];
}
