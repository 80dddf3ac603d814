import type { V1Lease } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { expiredLongAgo } from "./leader.js";

const NOW = Date.parse("2026-12-03T12:00:00Z");
const lease = (renewTime: unknown, leaseDurationSeconds: number | undefined): V1Lease =>
  ({ spec: { holderIdentity: "old-pod", renewTime, leaseDurationSeconds } }) as V1Lease;

describe("expiredLongAgo", () => {
  it.each([
    ["renewed 10 minutes ago (a crashed replica's Lease)", lease(new Date(NOW - 600_000), 15), true],
    [
      "renewed 31 s ago with a 15 s duration: past twice the duration",
      lease(new Date(NOW - 31_000), 15),
      true,
    ],
    [
      "renewed 29 s ago: within twice the duration, so clock skew could explain it",
      lease(new Date(NOW - 29_000), 15),
      false,
    ],
    ["renewed just now", lease(new Date(NOW), 15), false],
    ["renewed in the future by a clock running ahead", lease(new Date(NOW + 60_000), 15), false],
    ["renewTime as the RFC 3339 string the API sent", lease("2026-12-03T11:50:00.000000Z", 15), true],
    ["no renewTime", lease(undefined, 15), false],
    ["no duration", lease(new Date(NOW - 600_000), undefined), false],
    ["an unparsable renewTime", lease("yesterday", 15), false],
  ])("%s: %s", (_what, l, expected) => {
    expect(expiredLongAgo(l, NOW)).toBe(expected);
  });
});
