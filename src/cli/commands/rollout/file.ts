// A VoiceRollout file for `voicectl rollout start -f`: YAML or JSON (JSON is YAML), checked against the same
// zod schema the CRD is generated from before anything is sent, so a mistake is reported with file, line and
// field path, and nothing half-valid reaches the cluster.
import { z } from "zod";
import { formatPath, parseYamlDocuments } from "../../../adapters/files/policy-file.js";
import { readTextFile } from "../../../adapters/files/text-encoding.js";
import { InvalidInputError, type Problem } from "../../../core/errors.js";
import {
  API_VERSION,
  ROLLOUT_KIND,
  voiceRolloutSpecSchema,
  type VoiceRolloutSpec,
} from "../../../core/resource/voicerollout.js";

const stringMap = z.record(z.string(), z.string());

export const rolloutDocumentSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(ROLLOUT_KIND),
  // Loose: a file saved with `kubectl get -o yaml` carries uid, resourceVersion and the like; they are dropped.
  metadata: z.looseObject({
    name: z
      .string()
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "expected a lowercase DNS name such as tts-v2"),
    namespace: z.string().min(1).optional(),
    labels: stringMap.optional(),
    annotations: stringMap.optional(),
  }),
  spec: voiceRolloutSpecSchema,
  // The operator writes status; one in the file (from `kubectl get -o yaml`) is ignored, not an error.
  status: z.unknown().optional(),
});

export interface RolloutFile {
  readonly file: string;
  readonly name: string;
  readonly namespace?: string | undefined;
  readonly labels?: Record<string, string> | undefined;
  readonly annotations?: Record<string, string> | undefined;
  readonly spec: VoiceRolloutSpec;
  /** A problem located at a field of the file (for checks against the cluster, after the schema's). */
  problemAt(path: readonly (string | number)[], message: string): Problem;
}

/** Validate a rollout file's text; pure apart from its inputs. Throws InvalidInputError with every problem. */
export function parseRolloutFile(file: string, text: string): RolloutFile {
  const { documents, problems } = parseYamlDocuments(file, text, rolloutDocumentSchema, ROLLOUT_KIND);
  if (problems.length > 0) throw new InvalidInputError(problems);
  if (documents.length !== 1) {
    throw new InvalidInputError([
      { file, message: `expected one VoiceRollout document, found ${documents.length}` },
    ]);
  }
  const doc = documents[0]!;
  const { metadata, spec } = doc.value;
  return {
    file,
    name: metadata.name,
    namespace: metadata.namespace,
    labels: metadata.labels,
    annotations: metadata.annotations,
    spec,
    problemAt: (path, message) => ({ file, ...doc.locate(path), path: formatPath(path), message }),
  };
}

export async function loadRolloutFile(file: string): Promise<RolloutFile> {
  return parseRolloutFile(file, await readTextFile(file));
}
