import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  describeFound,
  describeIssue,
  describeSchema,
  expandUnions,
  expectedMessage,
} from "./schema-issues.js";

describe("describeSchema: what a schema accepts, in words", () => {
  it.each([
    [z.number().int().positive(), "an integer >= 1"],
    [z.number().int().min(0).max(100), "an integer between 0 and 100"],
    [z.number().gt(0.5).lt(1), "a number > 0.5 and < 1"],
    [z.number().nonnegative(), "a number >= 0"],
    [z.number().positive().optional().default(3), "a number > 0"],
    [z.string().min(1), "a non-empty string"],
    [z.string().min(1).max(253), "a string of 1 to 253 characters"],
    [z.boolean(), "true or false"],
    [z.enum(["mean", "p95"]), 'one of "mean", "p95"'],
    [z.literal("gap"), '"gap"'],
    [z.array(z.string()).min(2), "a list of at least 2 items"],
    [z.union([z.string(), z.array(z.string()).min(1)]), "a string or a list of at least 1 item"],
    [
      z.union([z.strictObject({ setWeight: z.number() }), z.strictObject({ pause: z.strictObject({}) })]),
      'a mapping with one of the fields "setWeight", "pause"',
    ],
  ])("%#: %s", (schema, words) => {
    expect(describeSchema(schema as never)).toBe(words);
  });
});

describe("describeFound: what the file said", () => {
  it.each([
    [null, undefined, "an empty value"],
    ["thirty", undefined, 'the string "thirty"'],
    ["please read my account number", undefined, "a string of 29 characters"],
    [Infinity, "1e400", "1e400, which is out of range"],
    [-Infinity, "-.inf", "-.inf, which is out of range"],
    [NaN, ".nan", ".nan, which is not a number"],
    [[], undefined, "an empty list"],
    [[1, 2], undefined, "a list of 2 items"],
    [{ foo: 1 }, undefined, 'a mapping with the field "foo"'],
  ])("%j (%s)", (value, source, words) => {
    expect(describeFound(value, source)).toBe(words);
  });
});

describe("describeIssue with the error map and the input", () => {
  const schema = z.strictObject({
    minSamples: z.number().int().positive(),
    aggregate: z.enum(["mean", "p95"]),
    steps: z.array(
      z.union([z.strictObject({ setWeight: z.number() }), z.strictObject({ pause: z.strictObject({}) })]),
    ),
  });
  const messages = (value: unknown) => {
    const r = schema.safeParse(value, { reportInput: true, error: expectedMessage });
    return expandUnions(r.success ? [] : r.error.issues).map(
      (i) => `${i.path.join(".")}: ${describeIssue(i)}`,
    );
  };

  it("names a wrong type, a missing field, and the alternative of a union that was meant", () => {
    expect(messages({ minSamples: "thirty", steps: [{ pause: 5 }, { wait: 1 }] })).toEqual([
      'minSamples: expected an integer >= 1, found the string "thirty"',
      'aggregate: required field "aggregate" is missing: expected one of "mean", "p95"',
      "steps.0.pause: expected a mapping (key: value), found 5",
      'steps.1: expected a mapping with one of the fields "setWeight", "pause", found a mapping with the field "wait"',
    ]);
  });
});
