import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EXAMPLES, generateExample } from "../examples/eval/generate.js";

describe("examples/eval", () => {
  it.each(EXAMPLES.map((e) => [e.name, e] as const))(
    "%s: the committed files are what the seeded generator writes (npm run examples)",
    (_n, e) => {
      for (const [file, content] of Object.entries(generateExample(e))) {
        expect(
          readFileSync(`examples/eval/${e.name}/${file}`, "utf8") === content,
          `${e.name}/${file} differs`,
        ).toBe(true);
      }
    },
  );
});
