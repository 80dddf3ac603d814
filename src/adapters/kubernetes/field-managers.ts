// Who last wrote a field, from the object's metadata.managedFields. The API server records, per field manager
// (the writer's name: `kubectl-patch`, `kubectl-edit`, `argocd-controller`, `kustomize-controller`, ...),
// the set of fields it owns. A write that changes a field (an update) takes the field from every other
// manager; an apply shares it with managers that applied the same value. So when a route's weights differ
// from what voicectl wrote, the managers owning them are the ones that changed them, and a pause can say
// which controller to look at instead of "someone".
//
// A fieldsV1 set is a tree of keys: `f:name` for a field, `k:{...}` for an element of a list keyed by some of
// its fields, `v:...` for an element of a set, `i:N` for an element by position, and `.` for the node itself.
// A list the schema marks atomic (the default for a CRD list without x-kubernetes-list-type, such as an
// HTTPRoute's rules) is owned whole: its key maps to an empty set, and owning it means owning every field in it.

/** The field manager of every write the operator makes, so its own writes are told from everyone else's. */
export const OPERATOR_FIELD_MANAGER = "voicectl-operator";

export interface ManagedFieldsEntry {
  readonly manager?: string | undefined;
  readonly operation?: string | undefined;
  readonly time?: string | undefined;
  readonly fieldsType?: string | undefined;
  readonly fieldsV1?: unknown;
  readonly subresource?: string | undefined;
}

/** A path into an object: field names and list positions, e.g. ["spec", "rules", 1, "backendRefs", 0, "weight"]. */
export type FieldPath = readonly (string | number)[];

type FieldSet = Record<string, unknown>;

const isSet = (v: unknown): v is FieldSet => typeof v === "object" && v !== null && !Array.isArray(v);

/** Whether `element` is the one a `k:{...}` key names: every key field has the key's value. */
function keyMatches(key: string, element: unknown): boolean {
  let wanted: unknown;
  try {
    wanted = JSON.parse(key);
  } catch {
    return false;
  }
  if (!isSet(wanted) || !isSet(element)) return false;
  return Object.entries(wanted).every(([k, v]) => JSON.stringify(element[k]) === JSON.stringify(v));
}

/** The child set of `node` for list element `index` of `list`, or undefined when the set has none. */
function elementSet(node: FieldSet, list: unknown, index: number): unknown {
  if (!Array.isArray(list)) return undefined;
  const element: unknown = list[index];
  for (const [key, child] of Object.entries(node)) {
    if (key === `i:${index}`) return child;
    if (key.startsWith("k:") && keyMatches(key.slice(2), element)) return child;
    if (key.startsWith("v:") && key.slice(2) === JSON.stringify(element)) return child;
  }
  return undefined;
}

/** Whether the field set owns the value at `path` in `obj`, itself or as part of a whole (atomic) value above it. */
export function ownsPath(fields: unknown, obj: unknown, path: FieldPath): boolean {
  let node: unknown = fields;
  let value: unknown = obj;
  for (const step of path) {
    if (!isSet(node)) return false;
    // An empty set: this value is owned whole (a leaf, or an atomic list or map).
    if (node !== fields && Object.keys(node).length === 0) return true;
    if (typeof step === "number") {
      node = elementSet(node, value, step);
      value = Array.isArray(value) ? (value as unknown[])[step] : undefined;
    } else {
      node = node[`f:${step}`];
      value = isSet(value) ? value[step] : undefined;
    }
  }
  return isSet(node);
}

/**
 * The field manager, other than voicectl's operator, that last wrote any of `paths` of `obj`: of the managers
 * owning one of them, the one whose entry is newest. Undefined when managedFields names none (a server
 * that does not track them, or only voicectl owns them).
 */
export function lastWriterOf(
  obj: { metadata?: { managedFields?: readonly ManagedFieldsEntry[] | undefined } },
  paths: readonly FieldPath[],
): string | undefined {
  let best: { manager: string; time: number } | undefined;
  for (const entry of obj.metadata?.managedFields ?? []) {
    const manager = entry.manager;
    if (!manager || manager === OPERATOR_FIELD_MANAGER || entry.fieldsType !== "FieldsV1") continue;
    if (!paths.some((p) => ownsPath(entry.fieldsV1, obj, p))) continue;
    const parsed = Date.parse(entry.time ?? "");
    const time = Number.isNaN(parsed) ? Number.NEGATIVE_INFINITY : parsed;
    // Ties (times have a resolution of one second) go to the later entry.
    if (best === undefined || time >= best.time) best = { manager, time };
  }
  return best?.manager;
}
