// PolicyStore over RolloutPolicy custom resources. A policy read from the cluster is checked by exactly the
// code that checks policy files (parsePolicies), so `voicectl policy validate` and the operator agree on what
// is valid and say so in the same words; the "file" in messages is rolloutpolicy/<namespace>/<name>.
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { formatProblem } from "../../core/errors.js";
import { GROUP, POLICY_PLURAL, VERSION } from "../../core/resource/voicerollout.js";
import type { PolicyLookup, PolicyStore, RolloutRef } from "../../operator/ports.js";
import { parsePolicies } from "../files/policy-file.js";
import { isNotFound, KubernetesApiError } from "./api-errors.js";

export const policyLabel = (ref: RolloutRef) => `rolloutpolicy/${ref.namespace}/${ref.name}`;

/**
 * Validate a RolloutPolicy object as the API server returned it. Only the fields a policy file has are
 * checked: the server adds metadata (uid, managedFields...) that a file never carries. Problems have no line
 * numbers (the object came as JSON, not from a file), only field paths.
 */
export function checkPolicyObject(label: string, raw: unknown): PolicyLookup {
  const obj = (raw ?? {}) as { apiVersion?: unknown; kind?: unknown; metadata?: unknown; spec?: unknown };
  const meta = (obj.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  const doc = {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name: meta.name, ...(meta.namespace !== undefined ? { namespace: meta.namespace } : {}) },
    spec: obj.spec,
  };
  // JSON is YAML: the policy file parser reads it as is, with the same schema and the same messages.
  const { policies, problems } = parsePolicies(label, JSON.stringify(doc));
  if (problems.length > 0) {
    return {
      error: problems.map((p) => formatProblem({ ...p, line: undefined, column: undefined })).join("; "),
    };
  }
  const policy = policies[0];
  if (!policy) return { error: `${label}: not a RolloutPolicy` };
  return { policy };
}

export class KubernetesPolicyStore implements PolicyStore {
  private readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  async get(ref: RolloutRef): Promise<PolicyLookup> {
    const label = policyLabel(ref);
    let raw: unknown;
    try {
      raw = await this.api.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ref.namespace,
        plural: POLICY_PLURAL,
        name: ref.name,
      });
    } catch (err) {
      if (isNotFound(err)) {
        return { error: `${label}: no RolloutPolicy named "${ref.name}" in namespace ${ref.namespace}` };
      }
      throw new KubernetesApiError(`reading ${label}`, err);
    }
    return checkPolicyObject(label, raw);
  }
}
