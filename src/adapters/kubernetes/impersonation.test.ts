import { describe, expect, it } from "vitest";
import { impersonationHeaders } from "./impersonation.js";

describe("impersonationHeaders", () => {
  it("sends the user, and each group under a distinct key that is the same header name", () => {
    const h = impersonationHeaders({ user: "dana", groups: ["a", "b", "c"] });
    expect(h["Impersonate-User"]).toBe("dana");
    const groupKeys = Object.keys(h).filter((k) => k.toLowerCase() === "impersonate-group");
    expect(groupKeys).toHaveLength(3);
    expect(new Set(groupKeys).size).toBe(3);
    expect(groupKeys.map((k) => h[k])).toEqual(["a", "b", "c"]);
  });

  it("sends no group header without groups", () => {
    expect(impersonationHeaders({ user: "dana", groups: [] })).toEqual({ "Impersonate-User": "dana" });
  });
});
