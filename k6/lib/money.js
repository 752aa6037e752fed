// Exact money: amounts travel as integers (cents, or BigInt in finer units); floats are only parsed and printed.

// A JSON number (or decimal string) of currency -> integer cents, rounded per value.
export function toCents(x) {
  const n = Number(x);
  if (!Number.isFinite(n)) throw new Error(`not an amount: ${x}`);
  return Math.round(n * 100);
}

// A fee fraction (0.05) -> integer parts per million (50000).
export function toPpm(x) {
  const n = Number(x);
  if (!Number.isFinite(n) || n < 0 || n >= 1) throw new Error(`not a fee fraction: ${x}`);
  return Math.round(n * 1e6);
}

// Exact decimal string of `units` (BigInt) / 10^scale, trailing zeros dropped, e.g. (3318575n, 1) -> "331857.5", (1990n, 2) -> "19.9".
export function formatScaled(units, scale) {
  const neg = units < 0n;
  let s = (neg ? -units : units).toString();
  if (scale > 0) {
    s = s.padStart(scale + 1, '0');
    s = s.slice(0, s.length - scale) + '.' + s.slice(s.length - scale);
    s = s.replace(/\.?0+$/, '');
  }
  return (neg ? '-' : '') + s;
}

// Same, as a JSON number (the nearest double of the exact decimal; the official file holds numbers).
export function scaledToNumber(units, scale) {
  return Number(formatScaled(units, scale));
}

// Round a number half-up to `places` decimals on its shortest decimal representation (what big.js's
// round() does on a JS number), returning a decimal string. Handles the exponent notation of tiny values.
export function roundHalfUpString(x, places) {
  if (!Number.isFinite(x)) throw new Error(`not a finite number: ${x}`);
  const neg = x < 0;
  let s = String(Math.abs(x));
  if (s.includes('e')) {
    // |x| < 1e-6 or >= 1e21: expand through BigInt-free digit shifting.
    const [m, e] = s.split('e');
    const exp = parseInt(e, 10);
    const [ip, fp = ''] = m.split('.');
    const digits = ip + fp;
    const point = ip.length + exp;
    s = point <= 0 ? '0.' + '0'.repeat(-point) + digits
      : point >= digits.length ? digits + '0'.repeat(point - digits.length)
        : digits.slice(0, point) + '.' + digits.slice(point);
  }
  let [ip, fp = ''] = s.split('.');
  fp = fp.padEnd(places + 1, '0');
  let kept = BigInt(ip + fp.slice(0, places));
  if (fp.charCodeAt(places) >= 53 /* '5' */) kept += 1n;
  const out = formatScaled(kept, places);
  return neg && out !== '0' ? '-' + out : out;
}
