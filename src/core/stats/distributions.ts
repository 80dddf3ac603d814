// Distribution functions for the offline release gate: normal, Student t, beta and binomial.
//
// WHY hand-written: the project takes no numeric dependency, and every interval in intervals.ts
// reduces to a normal or t quantile or to a binomial tail. Accuracy target is about 1e-9 (relative
// in the tails), far finer than any release budget needs, so verdicts never hinge on rounding here.
//
// References:
// - Lanczos (1964), coefficients g = 7, n = 9 as popularised by Press et al., Numerical Recipes (2007),
//   and Stirling's series with the correction term of R's lgammacor / lbeta (Loader; DiDonato & Morris 1992).
// - Incomplete gamma and beta by series / continued fraction with the modified Lentz method:
//   Press, Teukolsky, Vetterling, Flannery, Numerical Recipes 3rd ed. (2007), sections 6.2 and 6.4;
//   Lentz (1976); Thompson & Barnett (1986).
// - Normal quantile: Acklam (2003) rational approximation, refined by one Halley step.
// - Student t as a regularized incomplete beta (Abramowitz & Stegun 1964, 26.7.1), large-df
//   expansion from Hill (1970), CACM algorithm 395.

const LN_SQRT_2PI = 0.9189385332046728; // log(sqrt(2*pi))
const SQRT_2PI = 2.5066282746310002;
const EPS = 1e-15;
const FPMIN = 1e-300;

// ---------------------------------------------------------------- gamma and beta functions

/** Stirling series remainder: logGamma(x) - [(x-0.5)ln x - x + ln sqrt(2pi)], for x >= 10 (error < 1e-16). */
function stirlingCorrection(x: number): number {
  const r = 1 / x;
  const r2 = r * r;
  return (
    r *
    (1 / 12 +
      r2 *
        (-1 / 360 + r2 * (1 / 1260 + r2 * (-1 / 1680 + r2 * (1 / 1188 + r2 * (-691 / 360360 + r2 / 156))))))
  );
}

const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/**
 * ln Γ(x) for x > 0 (ln |Γ(x)| for negative non-integers, via reflection).
 * Stirling with correction for x >= 10 (keeps full relative precision for huge x, which the
 * binomial and large-df t need), Lanczos below.
 */
export function logGamma(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x <= 0 && Number.isInteger(x)) return Infinity;
  if (x < 0.5) {
    // Reflection: Γ(x)Γ(1-x) = π / sin(πx).
    return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  }
  if (x >= 10) return (x - 0.5) * Math.log(x) - x + LN_SQRT_2PI + stirlingCorrection(x);
  const z = x - 1;
  let s = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) s += LANCZOS[i]! / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return LN_SQRT_2PI + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/**
 * ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a+b), a, b > 0.
 * WHY not the plain sum: for a large argument (binomial n, t df) the three log-gammas are huge and
 * nearly cancel; the arrangement of R's lbeta keeps the cancelling parts analytic.
 */
export function logBeta(a: number, b: number): number {
  const p = Math.min(a, b);
  const q = Math.max(a, b);
  if (!(p > 0)) return p === 0 ? Infinity : NaN;
  if (p >= 10) {
    const corr = stirlingCorrection(p) + stirlingCorrection(q) - stirlingCorrection(p + q);
    return (
      -0.5 * Math.log(q) +
      LN_SQRT_2PI +
      corr +
      (p - 0.5) * Math.log(p / (p + q)) +
      q * Math.log1p(-p / (p + q))
    );
  }
  if (q >= 10) {
    const corr = stirlingCorrection(q) - stirlingCorrection(p + q);
    return logGamma(p) + corr + p - p * Math.log(p + q) + (q - 0.5) * Math.log1p(-p / (p + q));
  }
  return logGamma(p) + logGamma(q) - logGamma(p + q);
}

/** Continued fraction for I_x(a,b) (Numerical Recipes betacf, modified Lentz); fast for x < (a+1)/(a+b+2). */
export function betaContinuedFraction(x: number, a: number, b: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < FPMIN) d = FPMIN;
  d = 1 / d;
  let h = d;
  // Iterations grow like sqrt(max(a, b)); the cap is generous for n up to ~1e9.
  const maxIter = 1000 + 20 * Math.ceil(Math.sqrt(Math.max(a, b)));
  for (let m = 1; m <= maxIter; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return h;
}

/**
 * I_x(a,b) with y = 1 − x passed separately, so callers that know the complement exactly
 * (binomial 1 − p, t's t²/(df+t²)) do not lose it to rounding.
 */
function incompleteBeta(x: number, y: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const lnX = x > 0.5 ? Math.log1p(-y) : Math.log(x);
  const lnY = y > 0.5 ? Math.log1p(-x) : Math.log(y);
  const front = Math.exp(a * lnX + b * lnY - logBeta(a, b));
  // The fraction converges fast only for x < (a+1)/(a+b+2); otherwise use I_x(a,b) = 1 − I_y(b,a).
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(y, b, a)) / b;
}

/** Regularized incomplete beta I_x(a, b) = B(x; a, b) / B(a, b), 0 <= x <= 1, a, b > 0. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (Number.isNaN(x) || !(a > 0) || !(b > 0)) return NaN;
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return incompleteBeta(x, 1 - x, a, b);
}

// ---------------------------------------------------------------- normal

/** Regularized lower incomplete gamma P(a, x) by its series (NR gser); for x < a + 1. */
function gammaPSeries(a: number, x: number): number {
  let ap = a;
  let del = 1 / a;
  let sum = del;
  for (let n = 0; n < 1000; n++) {
    ap += 1;
    del *= x / ap;
    sum += del;
    if (Math.abs(del) < Math.abs(sum) * EPS) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
}

/** Regularized upper incomplete gamma Q(a, x) by its continued fraction (NR gcf); for x >= a + 1. */
function gammaQFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / FPMIN;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = b + an / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/**
 * Upper tail of the standard normal, Q(z) = 1 − Φ(z), for z >= 0, with full relative precision.
 * Uses Q(z) = ½ · Γ-upper(½, z²/2) (A&S 26.2.30 with 6.5.17).
 */
function normalUpperTail(z: number): number {
  const h = (z * z) / 2;
  if (h < 1.5) return 0.5 - 0.5 * gammaPSeries(0.5, h);
  return 0.5 * gammaQFraction(0.5, h);
}

/** Standard normal CDF Φ(x). */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return 1;
  if (x === -Infinity) return 0;
  return x < 0 ? normalUpperTail(-x) : 1 - normalUpperTail(x);
}

// Acklam (2003) coefficients; relative error 1.15e-9 before refinement.
const ACK_A = [
  -39.69683028665376, 220.9460984245205, -275.928510446969, 138.357751867269, -30.66479806614716,
  2.506628277459239,
];
const ACK_B = [
  -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
];
const ACK_C = [
  -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
];
const ACK_D = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];

function acklamLower(p: number): number {
  // p <= 0.5; returns x <= 0 with Φ(x) ≈ p.
  const [a0, a1, a2, a3, a4, a5] = ACK_A as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = ACK_B as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = ACK_C as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = ACK_D as [number, number, number, number];
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
    (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1)
  );
}

/** Standard normal quantile Φ⁻¹(p): Acklam's approximation plus one Halley step (≈ machine precision). */
export function normalQuantile(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  if (p > 0.5) return -normalQuantile(1 - p); // 1 − p is exact here (Sterbenz)
  let x = acklamLower(p);
  // Halley refinement against the accurate lower tail (cubic convergence: one step suffices).
  const e = normalUpperTail(-x) - p;
  const u = e * SQRT_2PI * Math.exp((x * x) / 2);
  x -= u / (1 + (x * u) / 2);
  return x;
}

// ---------------------------------------------------------------- Student t

/** Above this df the t tail is Φ with Hill's 1/df correction; the remaining O(1/df²) is < 1e-16. */
const T_LARGE_DF = 1e8;

/** Upper tail P[T > t] for t >= 0, kept relatively precise deep in the tail. */
function studentTUpperTail(t: number, df: number): number {
  if (t === Infinity) return 0;
  if (df === Infinity) return normalUpperTail(t);
  if (df > T_LARGE_DF) {
    const phi = Math.exp(-0.5 * t * t - LN_SQRT_2PI);
    return normalUpperTail(t) + (phi * (t * t * t + t)) / (4 * df);
  }
  const t2 = t * t;
  // P[|T| > t] = I_{df/(df+t²)}(df/2, 1/2)  (A&S 26.7.1).
  return 0.5 * incompleteBeta(df / (df + t2), t2 / (df + t2), df / 2, 0.5);
}

function studentTDensity(t: number, df: number): number {
  if (df === Infinity || df > T_LARGE_DF) return Math.exp(-0.5 * t * t - LN_SQRT_2PI);
  return Math.exp(-((df + 1) / 2) * Math.log1p((t * t) / df) - 0.5 * Math.log(df) - logBeta(df / 2, 0.5));
}

/** Student t CDF with df > 0 degrees of freedom (non-integer allowed; Infinity = normal). */
export function studentTCdf(t: number, df: number): number {
  if (Number.isNaN(t) || Number.isNaN(df) || !(df > 0)) return NaN;
  return t < 0 ? studentTUpperTail(-t, df) : 1 - studentTUpperTail(t, df);
}

/**
 * Student t quantile. Exact for df = 1 and 2; otherwise safeguarded Newton (NR rtsafe) on the
 * upper tail, starting from Hill's (1970) Cornish–Fisher-type expansion, with log-scale bisection
 * as fallback so very small df (huge quantiles) still converge.
 */
export function studentTQuantile(p: number, df: number): number {
  if (Number.isNaN(p) || Number.isNaN(df) || !(df > 0) || p < 0 || p > 1) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  if (p === 0.5) return 0;
  // Work with the smaller tail q directly (1 − p would lose relative precision for tiny p).
  if (p < 0.5) return -studentTUpperQuantile(p, df);
  return studentTUpperQuantile(1 - p, df); // 1 − p is exact for p > 0.5 (Sterbenz)
}

/** The t with P[T > t] = q, for 0 < q < 0.5. */
function studentTUpperQuantile(q: number, df: number): number {
  if (df === Infinity) return -normalQuantile(q);
  if (df === 1) return 1 / Math.tan(Math.PI * q); // tan(π(½ − q)) = cot(πq)
  if (df === 2) return (1 - 2 * q) / Math.sqrt(2 * q * (1 - q));
  // Starting point: Cornish–Fisher expansion of t in z (A&S 26.7.5), good for moderate df.
  const z = -normalQuantile(q);
  const z2 = z * z;
  let x =
    z +
    (z * (z2 + 1)) / (4 * df) +
    (z * ((5 * z2 + 16) * z2 + 3)) / (96 * df * df) +
    (z * (((3 * z2 + 19) * z2 + 17) * z2 - 15)) / (384 * df * df * df);
  if (!(x > 0) || !Number.isFinite(x)) x = 1;
  // Bracket [lo, hi] with tail(lo) >= q >= tail(hi).
  let lo = 0;
  let hi = x;
  while (studentTUpperTail(hi, df) > q) {
    lo = hi;
    hi *= 2;
    if (!Number.isFinite(hi)) return Infinity;
  }
  x = Math.min(Math.max(x, lo), hi);
  for (let i = 0; i < 300; i++) {
    const f = studentTUpperTail(x, df) - q; // decreasing in x
    if (f === 0) return x;
    if (f > 0) lo = x;
    else hi = x;
    const step = f / studentTDensity(x, df); // Newton: x_new = x − f/f', f' = −density
    let next = x + step;
    if (!(next > lo && next < hi) || !Number.isFinite(next)) {
      next = lo > 0 && hi / lo > 4 ? Math.sqrt(lo * hi) : (lo + hi) / 2;
    }
    if (Math.abs(next - x) <= 1e-14 * Math.abs(x)) return next;
    x = next;
  }
  return x;
}

// ---------------------------------------------------------------- binomial

/**
 * P[X <= k] for X ~ Binomial(n, p), exact through P[X <= k] = I_{1−p}(n−k, k+1)
 * (A&S 26.5.24). k is floored; k < 0 gives 0, k >= n gives 1.
 */
export function binomialCdf(k: number, n: number, p: number): number {
  if (Number.isNaN(k) || Number.isNaN(n) || Number.isNaN(p) || n < 0 || p < 0 || p > 1) return NaN;
  const kk = Math.floor(k);
  if (kk < 0) return 0;
  if (kk >= n) return 1;
  if (p === 0) return 1;
  if (p === 1) return 0;
  return incompleteBeta(1 - p, p, n - kk, kk + 1);
}
