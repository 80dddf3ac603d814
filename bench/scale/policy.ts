// The RolloutPolicy bench/scale applies to every rollout, and bench/look judges with: per-voice similarity
// (critical), TTFA p95 from histogram buckets and error rate, on every voice.
export const SCALE_POLICY = `apiVersion: voicectl.dev/v1alpha1
kind: RolloutPolicy
metadata: { name: scale }
spec:
  sliceBy: [voice_id]
  metrics:
    - { name: speaker_similarity, direction: higherIsBetter, aggregate: mean, tier: quality, critical: true,
        budget: { absolute: 0.01 } }
    - { name: ttfa_p95, column: ttfa_ms, direction: lowerIsBetter, aggregate: p95, tier: latency,
        critical: false, budget: { relative: 0.15 } }
    - { name: error_rate, column: error, direction: lowerIsBetter, aggregate: rate, tier: latency,
        critical: false, budget: { absolute: 0.005 } }
`;
