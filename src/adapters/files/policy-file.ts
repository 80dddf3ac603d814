// Reads RolloutPolicy files (YAML, one or more documents) and reports every problem at once, each with the
// file, line and field path, by mapping zod's issue paths back onto the YAML nodes they came from.
import { isNode, isScalar, LineCounter, parseAllDocuments, type Document } from "yaml";
import type { z } from "zod";
import { FileAccessError, InvalidInputError, type Problem } from "../../core/errors.js";
import { POLICY_KIND, policySchema, type Policy } from "../../core/policy/schema.js";
import { describeIssue, expandUnions, expectedMessage, previewToken } from "./schema-issues.js";
import { readTextFile } from "./text-encoding.js";

export interface LoadedPolicy {
  readonly file: string;
  readonly policy: Policy;
}

/** `spec.metrics[2].budget` from `["spec", "metrics", 2, "budget"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

function locate(
  doc: Document,
  path: readonly PropertyKey[],
  lines: LineCounter,
): { line?: number; column?: number } {
  // The deepest node that exists on the path: a missing field is reported at its parent.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth) as (string | number)[], true);
    if (isNode(node) && node.range) {
      const pos = lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

/** Words of a message from the YAML parser longer than a name could be are shown by their length only. */
function shortenLongWords(message: string): string {
  return message.replace(/\S{65,}/g, (w) => `<text of ${w.length} characters>`);
}

/** Problems beyond this many in one file are counted, not listed (a systematic mistake, a generated file). */
export const MAX_YAML_PROBLEMS = 50;

/** The document as plain data, or the reason it cannot be built (an alias bomb, nesting past the stack). */
function documentValue(doc: Document): { value: unknown } | { error: string } {
  try {
    return { value: doc.toJS() };
  } catch (err) {
    if (err instanceof RangeError) return { error: "nested too deeply to read" };
    // yaml's guard against alias bombs (a billion laughs): a ReferenceError "Excessive alias count ...".
    if (err instanceof ReferenceError && /alias/i.test(err.message))
      return {
        error: "aliases expand to too many nodes (a guard against alias bombs): write the values out",
      };
    throw err;
  }
}

/** What the kinds voicectl reads are, in a word. */
const KIND_NOUNS: Readonly<Record<string, string>> = {
  RolloutPolicy: "a policy",
  SimulationScenario: "a scenario",
  VoiceRollout: "a rollout",
};

/** A document of another kind than expected (a policy given where a scenario goes): what it is, or null. */
function kindMismatch(value: unknown, expected: string): string | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const found = (value as { kind?: unknown }).kind;
  if (typeof found !== "string" || found === expected) return null;
  const what = Object.hasOwn(KIND_NOUNS, found) ? `a ${found}` : `kind ${previewToken(found)}`;
  return `this is ${what}; ${KIND_NOUNS[expected] ?? "a document"} is expected here (kind: ${expected})`;
}

/** The text of the scalar at `path` as written in the file (`1e400`, not the Infinity it parses to). */
function scalarSource(doc: Document, path: readonly PropertyKey[], text: string): string | undefined {
  const node = doc.getIn(path as (string | number)[], true);
  if (!isScalar(node) || !node.range) return undefined;
  const source = text.slice(node.range[0], node.range[1]).trim();
  return source.length <= 64 ? source : undefined;
}

/** One valid document of a YAML file, and a way to point at its fields (for checks after the schema's). */
export interface ParsedYamlDocument<T> {
  readonly value: T;
  /** Line and column of the node at `path` (or of its deepest existing parent). */
  locate(path: readonly PropertyKey[]): { line?: number; column?: number };
}

/**
 * Validate one YAML text holding one or more documents against a zod schema, reporting every problem with
 * file, line, column and field path. `kind` names the document in the "no document" problem. Pure apart from
 * its inputs.
 */
export function parseYamlDocuments<S extends z.ZodType>(
  file: string,
  text: string,
  schema: S,
  kind: string,
): { documents: ParsedYamlDocument<z.output<S>>[]; problems: Problem[] } {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  const problems: Problem[] = [];
  const documents: ParsedYamlDocument<z.output<S>>[] = [];
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = lines.linePos(e.pos[0]);
        problems.push({
          file,
          line: pos.line,
          column: pos.col,
          message: `YAML syntax: ${shortenLongWords(e.message.split("\n")[0]!)}`,
        });
      }
      continue;
    }
    if (doc.contents === null) continue; // an empty document between `---` separators
    const built = documentValue(doc);
    if ("error" in built) {
      const pos = lines.linePos(doc.range[0]);
      problems.push({ file, line: pos.line, column: pos.col, message: `YAML: ${built.error}` });
      continue;
    }
    const wrongKind = kindMismatch(built.value, kind);
    if (wrongKind !== null) {
      // The rest of the document is judged against the wrong schema: one line saying what it is says more.
      problems.push({ file, ...locate(doc, ["kind"], lines), path: "kind", message: wrongKind });
      continue;
    }
    const result = schema.safeParse(built.value, { reportInput: true, error: expectedMessage });
    if (result.success) {
      documents.push({ value: result.data, locate: (path) => locate(doc, path, lines) });
      continue;
    }
    for (const issue of expandUnions(result.error.issues)) {
      // An unknown field is pointed at where it stands, not at the object holding it.
      const at =
        issue.code === "unrecognized_keys" && issue.keys.length === 1
          ? [...issue.path, issue.keys[0]!]
          : issue.path;
      const path = issue.path;
      problems.push({
        file,
        ...locate(doc, at, lines),
        path: formatPath(path) || "(document)",
        message: describeIssue(issue, scalarSource(doc, path, text)),
      });
    }
  }
  if (documents.length === 0 && problems.length === 0) {
    problems.push({ file, message: `no ${kind} document in the file` });
  }
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  if (problems.length > MAX_YAML_PROBLEMS) {
    const rest = problems.length - MAX_YAML_PROBLEMS;
    problems.length = MAX_YAML_PROBLEMS;
    problems.push({ file, message: `and ${rest} more problems like these` });
  }
  return { documents, problems };
}

/** Validate one YAML text holding one or more policy documents. Pure apart from its inputs. */
export function parsePolicies(file: string, text: string): { policies: Policy[]; problems: Problem[] } {
  const { documents, problems } = parseYamlDocuments(file, text, policySchema, POLICY_KIND);
  return { policies: documents.map((d) => d.value), problems };
}

/** Load exactly one policy from a file, or throw with every problem found. */
export async function loadPolicy(file: string): Promise<LoadedPolicy> {
  const { policies, problems } = parsePolicies(file, await readTextFile(file));
  if (problems.length > 0) throw new InvalidInputError(problems);
  if (policies.length !== 1) {
    throw new InvalidInputError([{ file, message: `expected one RolloutPolicy, found ${policies.length}` }]);
  }
  return { file, policy: policies[0]! };
}

/** Validate many files; returns the problems of all of them (a missing file is a problem too). */
export async function validatePolicyFiles(
  files: readonly string[],
): Promise<{ valid: LoadedPolicy[]; problems: Problem[]; missing: Problem[] }> {
  const valid: LoadedPolicy[] = [];
  const problems: Problem[] = [];
  const missing: Problem[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readTextFile(file);
    } catch (err) {
      if (err instanceof InvalidInputError) problems.push(...err.problems);
      else if (err instanceof FileAccessError)
        missing.push({ file, message: err.message.slice(file.length + 2) });
      else throw err;
      continue;
    }
    const r = parsePolicies(file, text);
    problems.push(...r.problems);
    // Valid documents are reported as valid even when another document of the same file is not.
    valid.push(...r.policies.map((policy) => ({ file, policy })));
  }
  return { valid, problems, missing };
}
