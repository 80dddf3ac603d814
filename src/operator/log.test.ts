import { describe, expect, it } from "vitest";
import { createLogger, MAX_FIELD_CHARS } from "./log.js";

const T0 = Date.UTC(2026, 0, 15, 9, 0, 0);

function capture(level?: "debug" | "info" | "warn" | "error") {
  const lines: string[] = [];
  const log = createLogger({ level, write: (l) => lines.push(l), now: () => T0 });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("log", () => {
  it("writes one JSON object per line with time, level, msg, rollout and fields", () => {
    const { log, lines, parsed } = capture();
    log
      .child({ rollout: { namespace: "voice", name: "tts-v42" } })
      .info("phase changed", { from: "Progressing", to: "Paused" });
    expect(lines).toHaveLength(1);
    expect(parsed()[0]).toEqual({
      time: "2026-01-15T09:00:00.000Z",
      level: "info",
      msg: "phase changed",
      rollout: "voice/tts-v42",
      fields: { from: "Progressing", to: "Paused" },
    });
  });

  it("never writes a long string: a payload shows as its length", () => {
    const { log, parsed } = capture();
    const payload = "the quick brown fox ".repeat(100);
    log.warn("look failed", { body: payload, error: new Error(payload) });
    const fields = parsed()[0]!.fields as Record<string, unknown>;
    expect(fields.body).toBe(`<${payload.length} chars>`);
    expect(fields.error).toEqual({ name: "Error", message: `<${payload.length} chars>` });
    expect(JSON.stringify(parsed())).not.toContain("quick brown");
    expect(payload.length).toBeGreaterThan(MAX_FIELD_CHARS);
  });

  it.each([
    ["info", ["info", "warn", "error"]],
    ["warn", ["warn", "error"]],
    ["debug", ["debug", "info", "warn", "error"]],
  ] as const)("level %s writes %j", (level, written) => {
    const { log, parsed } = capture(level);
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(parsed().map((l) => l.level)).toEqual(written);
  });

  it("writes numbers JSON cannot hold as text rather than null", () => {
    const { log, parsed } = capture();
    log.info("x", { worsening: Infinity });
    expect((parsed()[0]!.fields as Record<string, unknown>).worsening).toBe("Infinity");
  });
});
