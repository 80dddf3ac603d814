// How a schema's complaint about a YAML file becomes a message a person can act on: what was expected (from
// the schema itself: "an integer >= 1", one of the allowed values) and what was found ("the string "thirty"",
// "1e400, which is out of range"), or which required field is missing. zod's own messages said "required
// field is missing" for every wrong type (zod 4 reports an issue's input only when asked), and "Invalid
// option" for a missing enum field. Every YAML reader (policies, scenarios, rollout files) goes through here.
import type { z } from "zod";

/**
 * A name or token from the file as it may appear in a message: short ones are shown, anything long or spaced
 * by its length only (a pasted transcript or a 10,000-character key must not be echoed back).
 */
export function previewToken(text: string): string {
  return /^[\w./:+-]{1,64}$/.test(text) ? `"${text}"` : `<text of ${text.length} characters>`;
}

/** The parts of a zod schema's definition this file reads; zod's own types do not expose them together. */
interface SchemaDef {
  readonly type?: string;
  readonly check?: string;
  readonly innerType?: SchemaLike;
  readonly in?: SchemaLike;
  readonly element?: SchemaLike;
  readonly options?: readonly SchemaLike[];
  readonly entries?: Readonly<Record<string, string | number>>;
  readonly values?: readonly unknown[];
  readonly checks?: readonly SchemaLike[];
  readonly format?: string;
  readonly value?: unknown;
  readonly inclusive?: boolean;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly shape?: Readonly<Record<string, SchemaLike>>;
}
interface SchemaLike {
  readonly _zod: { readonly def: SchemaDef };
}

const quote = (v: unknown) => (typeof v === "string" ? `"${v}"` : String(v));
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

/** "an integer >= 1", "a number > 0.5 and < 1", "a number between 0 and 1". */
function describeNumber(def: SchemaDef): string {
  let integer = false;
  let lower: { value: number; inclusive: boolean } | null = null;
  let upper: { value: number; inclusive: boolean } | null = null;
  for (const c of def.checks ?? []) {
    const cd = c._zod.def;
    if (cd.check === "number_format" && cd.format !== undefined && /int/.test(cd.format)) integer = true;
    if (cd.check === "greater_than" && typeof cd.value === "number")
      lower = { value: cd.value, inclusive: cd.inclusive === true };
    if (cd.check === "less_than" && typeof cd.value === "number")
      upper = { value: cd.value, inclusive: cd.inclusive === true };
  }
  // An integer above 0 is an integer >= 1: say it the way people count.
  if (integer && lower && !lower.inclusive && Number.isInteger(lower.value))
    lower = { value: lower.value + 1, inclusive: true };
  if (integer && upper && !upper.inclusive && Number.isInteger(upper.value))
    upper = { value: upper.value - 1, inclusive: true };
  const noun = integer ? "an integer" : "a number";
  if (lower && upper && lower.inclusive && upper.inclusive)
    return `${noun} between ${lower.value} and ${upper.value}`;
  const bounds = [
    lower ? `${lower.inclusive ? ">=" : ">"} ${lower.value}` : null,
    upper ? `${upper.inclusive ? "<=" : "<"} ${upper.value}` : null,
  ].filter((b) => b !== null);
  return bounds.length > 0 ? `${noun} ${bounds.join(" and ")}` : noun;
}

/** What a schema accepts, in words: the "expected" half of a message. */
export function describeSchema(schema: SchemaLike | undefined): string {
  const def = schema?._zod.def;
  switch (def?.type) {
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "nonoptional":
    case "readonly":
    case "catch":
      return describeSchema(def.innerType);
    case "pipe":
      return describeSchema(def.in);
    case "number":
      return describeNumber(def);
    case "int":
      return "an integer";
    case "string": {
      const length = (check: string) => def.checks?.find((c) => c._zod.def.check === check)?._zod.def;
      const min = length("min_length")?.minimum ?? 0;
      const max = length("max_length")?.maximum;
      if (max !== undefined)
        return `a string of ${min > 0 ? `${min} to ${max}` : `at most ${max}`} characters`;
      return min > 0 ? "a non-empty string" : "a string";
    }
    case "boolean":
      return "true or false";
    case "enum":
      return `one of ${Object.values(def.entries ?? {})
        .map(quote)
        .join(", ")}`;
    case "literal": {
      const values = def.values ?? [];
      return values.length === 1 ? quote(values[0]) : `one of ${values.map(quote).join(", ")}`;
    }
    case "array": {
      const min = (def.checks ?? []).find((c) => c._zod.def.check === "min_length")?._zod.def.minimum;
      return min !== undefined && min > 0 ? `a list of at least ${plural(min, "item")}` : "a list";
    }
    case "object":
    case "record":
      return "a mapping (key: value)";
    case "union": {
      const options = def.options ?? [];
      // Steps and the like: a mapping with one field of several, each its own kind of mapping.
      const fields = options.map((o) =>
        o._zod.def.type === "object" ? Object.keys(o._zod.def.shape ?? {}) : null,
      );
      if (fields.every((f) => f !== null && f.length === 1))
        return `a mapping with one of the fields ${fields.map((f) => quote(f![0])).join(", ")}`;
      return [...new Set(options.map(describeSchema))].join(" or ");
    }
    default:
      return "a valid value";
  }
}

/** The raw issue zod hands an error map: the schema that raised it, and for a check, the schema it checks. */
interface RawIssue {
  readonly code: string;
  readonly inst?: unknown;
  readonly schema?: unknown;
}

/**
 * An error map for `safeParse`: the "expected ..." part of a message for the issues whose zod message names
 * only a type ("Invalid input: expected number, received string"). Messages the schemas give themselves (a
 * regex's "expected a duration such as 30s") are kept.
 */
export function expectedMessage(issue: z.core.$ZodRawIssue): string | undefined {
  const raw = issue as unknown as RawIssue;
  switch (raw.code) {
    case "invalid_type":
    case "invalid_value":
    case "invalid_union":
    case "too_small":
    case "too_big":
      return `expected ${describeSchema((raw.schema ?? raw.inst) as SchemaLike | undefined)}`;
    default:
      return undefined;
  }
}

/**
 * What was found, in words: `the string "thirty"`, `1e400, which is out of range`, `a list of 3 items`.
 * `source` is the value's text in the file when it is a scalar (a number too large for a double is Infinity
 * once parsed; the file said 1e400). Long strings are shown by their length only.
 */
export function describeFound(value: unknown, source?: string): string {
  if (value === null) return "an empty value";
  if (typeof value === "string") {
    const token = previewToken(value);
    return token.startsWith('"') ? `the string ${token}` : `a string of ${value.length} characters`;
  }
  if (typeof value === "number") {
    if (Number.isFinite(value)) return String(value);
    if (Number.isNaN(value)) return `${source ?? "NaN"}, which is not a number`;
    return `${source ?? String(value)}, which is out of range`;
  }
  if (typeof value === "boolean") return String(value);
  if (Array.isArray(value))
    return value.length === 0 ? "an empty list" : `a list of ${plural(value.length, "item")}`;
  if (typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 0) return "an empty mapping";
    const shown = keys.slice(0, 5).map(previewToken).join(", ");
    return `a mapping with the field${keys.length > 1 ? "s" : ""} ${shown}${keys.length > 5 ? ", ..." : ""}`;
  }
  return typeof value;
}

/** One zod issue as a message; `source` is the text of the offending scalar in the file, if there is one. */
export function describeIssue(issue: z.core.$ZodIssue, source?: string): string {
  switch (issue.code) {
    case "unrecognized_keys":
      return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map(previewToken).join(", ")}`;
    case "invalid_key": {
      const inner = issue.issues[0]?.message ?? "an invalid key";
      return `${inner}, found the key ${previewToken(String(issue.input))}`;
    }
    case "invalid_type":
    case "invalid_value":
    case "invalid_union":
    case "invalid_format":
    case "too_small":
    case "too_big":
    case "not_multiple_of": {
      if (issue.input === undefined) {
        const field = issue.path[issue.path.length - 1];
        const name = typeof field === "string" ? `"${field}" ` : "";
        return `required field ${name}is missing: ${issue.message}`;
      }
      // A number written in quotes is a string to YAML: say so, it is the easiest mistake to fix.
      const quoted =
        issue.code === "invalid_type" &&
        issue.expected === "number" &&
        typeof issue.input === "string" &&
        issue.input.trim() !== "" &&
        Number.isFinite(Number(issue.input))
          ? " (write the number without quotes)"
          : "";
      return `${issue.message}, found ${describeFound(issue.input, source)}${quoted}`;
    }
    default:
      return issue.message;
  }
}

/**
 * The issues of the one alternative of a union that the value was meant to be, in place of the union's single
 * "expected this or that" issue: `- pause: 5` is a pause step whose `pause` should be a mapping, not a
 * value that is neither a weight, a pause nor an analysis. An alternative is meant when the value has none
 * of the fields it does not know and all of those it requires; without exactly one such, the union stands.
 */
export function expandUnions(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code !== "invalid_union" || issue.errors.length === 0) return [issue];
    const meant = issue.errors.filter(
      (option) =>
        option.length > 0 &&
        !option.some(
          (i) =>
            (i.code === "unrecognized_keys" && i.path.length === 0) ||
            (i.path.length <= 1 && (i as { input?: unknown }).input === undefined) ||
            (i.code === "invalid_type" && i.path.length === 0),
        ),
    );
    if (meant.length !== 1) return [issue];
    return expandUnions(meant[0]!.map((i) => ({ ...i, path: [...issue.path, ...i.path] })));
  });
}
