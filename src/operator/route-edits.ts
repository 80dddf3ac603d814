// What the route carries at the start of a pass, against what status says, and what to do about a difference
// (docs/operator.md#hand-edits-and-what-is-served). Two causes, told apart by the weight voicectl records on
// the routing object in the same update as the weights (RouteObservation.written):
//
// - Our own unfinished write: a pass died between its status write and its route write, so the route still
//   carries the weight voicectl wrote before (or a weight voicectl never wrote: the owner's setup before the
//   rollout). The pass finishes it before acting on anything new: otherwise an approval would move the route
//   straight to the next step's weight, past a step never served. The step's clock and the analysis window
//   start again, so no look covers time when the route did not carry the status's weight.
// - A person's edit: the weights match neither status nor voicectl's record. That is not ours to undo
//   silently. The rollout pauses and says so, and the route is left alone until an approval sets it back (the
//   step runs again from its start), an abort or a critical regression rolls back, or the person puts it back.
import type { VoiceRollout } from "../core/resource/voicerollout.js";
import type { RouteObservation } from "./ports.js";

export type RouteCheck =
  /** The route carries the status's weight, or names no split at all (setting the weight will say why). */
  | { readonly kind: "agrees" }
  /** voicectl's own write that status has moved past: set the status's weight now. */
  | { readonly kind: "unfinished"; readonly routed: number }
  /** Someone else set this weight (`by`: their field manager, when known): pause, leave it alone. */
  | {
      readonly kind: "byHand";
      readonly routed: number;
      readonly written: number;
      readonly by?: string | undefined;
    };

export function checkRoute(route: RouteObservation, statusWeight: number): RouteCheck {
  const { weight, written } = route;
  if (weight === null || weight === statusWeight) return { kind: "agrees" };
  if (written !== null && written !== weight)
    return route.changedBy === undefined
      ? { kind: "byHand", routed: weight, written }
      : { kind: "byHand", routed: weight, written, by: route.changedBy };
  return { kind: "unfinished", routed: weight };
}

/** The object a rollout's traffic goes through, as a person would name it ("HTTPRoute tts"). */
export function routeObjectOf(rollout: VoiceRollout): string {
  const t = rollout.spec.traffic;
  if (t.gatewayAPI) return `HTTPRoute ${t.gatewayAPI.httpRoute}`;
  if (t.istio) return `VirtualService ${t.istio.virtualService}`;
  if (t.kserve) return `InferenceService ${t.kserve.inferenceService}`;
  return "the route";
}

/** The RouteRepaired Event's message. */
export function repairedMessage(routed: number, weight: number): string {
  return `the route carried canary weight ${routed}%, status records ${weight}%: set back to ${weight}%; the step's clock and analysis window start again`;
}

/**
 * The pause's reason (and the Warning Event's message) for a route changed by someone else. `by` is the field
 * manager that wrote the weights, when the route says: a GitOps controller there (argocd-controller,
 * kustomize-controller) means its source has the old weights and it will keep writing them back, which is
 * fixed in its settings (docs/gitops.md), not by approving.
 */
export function changedByHandReason(
  rollout: VoiceRollout,
  routed: number,
  weight: number,
  stepIndex: number,
  by?: string | undefined,
): string {
  const who = by === undefined ? "by hand" : `by ${by} (not voicectl)`;
  return `${routeObjectOf(rollout)} was changed ${who}: canary weight ${routed}%, expected ${weight}%; approve to set it back and run step ${stepIndex + 1} again, or abort to roll back`;
}

/** The RouteRestored Event's message: `by` says who put the weight back. */
export function restoredMessage(
  rollout: VoiceRollout,
  weight: number,
  stepIndex: number,
  by: string,
): string {
  return `${routeObjectOf(rollout)} carries canary weight ${weight}% again (${by}); step ${stepIndex + 1} runs again from its start`;
}
