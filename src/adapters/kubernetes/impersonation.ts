// kubectl's --as and --as-group: the API server acts as another user (and groups) when the caller holds the
// `impersonate` verb (RBAC decides, as for kubectl). Sent as Impersonate-User and one Impersonate-Group header
// line per group.
//
// client-node hands headers to node-fetch as a plain object, one value per key, so two groups cannot be two
// values of one key. node-fetch merges keys that differ only in case into one header with several values,
// and sends each value as its own line: each group after the first gets the header name in another casing.
// Header names are case-insensitive in HTTP, so the API server reads them all as Impersonate-Group. The
// real-cluster test (test/e2e/rollout-cli.test.ts) checks two groups arrive as two.

export interface Impersonation {
  readonly user: string;
  readonly groups: readonly string[];
}

/** `name` with the case of its letters flipped by the bits of `variant` (variant 0 is `name` itself). */
function casing(name: string, variant: number): string {
  let bit = 0;
  return [...name]
    .map((ch) => {
      if (ch.toLowerCase() === ch.toUpperCase()) return ch;
      const flip = (variant >> bit++) & 1;
      return flip ? (ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase()) : ch;
    })
    .join("");
}

/** The headers to add to every request, as one object (distinct keys, one per group). */
export function impersonationHeaders(i: Impersonation): Record<string, string> {
  const headers: Record<string, string> = { "Impersonate-User": i.user };
  i.groups.forEach((group, n) => {
    headers[casing("Impersonate-Group", n)] = group;
  });
  return headers;
}
