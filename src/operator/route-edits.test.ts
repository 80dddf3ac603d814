import { describe, expect, it } from "vitest";
import { checkRoute } from "./route-edits.js";

describe("checkRoute: our unfinished write or a person's edit", () => {
  it.each([
    // weight on the route, voicectl's record, status -> what it is
    [25, 25, 25, { kind: "agrees" }],
    [null, 25, 25, { kind: "agrees" }],
    // A pass died between writing status 50 and the route: the route still has our 25.
    [25, 25, 50, { kind: "unfinished", routed: 25 }],
    // The owner's route before voicectl ever wrote to it.
    [30, null, 0, { kind: "unfinished", routed: 30 }],
    // Someone set 80 where voicectl wrote 25.
    [80, 25, 25, { kind: "byHand", routed: 80, written: 25 }],
    // ...even when status had moved on to 50 before the route write.
    [80, 25, 50, { kind: "byHand", routed: 80, written: 25 }],
    // ...and when the person set it back to what status says, there is nothing to do.
    [50, 25, 50, { kind: "agrees" }],
  ] as const)("route %s, written %s, status %s", (weight, written, status, expected) => {
    expect(checkRoute({ weight, written }, status)).toEqual(expected);
  });
});
