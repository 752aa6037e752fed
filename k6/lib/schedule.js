// Schedule files (k6/schedules/*.json): validation, defaults and time scaling. Pure functions.
import { toCents, toPpm } from './money.js';

// SCHEDULE env -> path for open() (resolved relative to rinha.js unless absolute).
export function schedulePath(value) {
  const v = value || 'published';
  if (v.includes('/') || v.endsWith('.json')) return v;
  if (!/^[A-Za-z0-9_.-]+$/.test(v)) throw new Error(`SCHEDULE: bad schedule name ${JSON.stringify(v)}`);
  return `./schedules/${v}.json`;
}

function need(cond, msg) {
  if (!cond) throw new Error(`schedule: ${msg}`);
}

function num(v, what, min = 0) {
  const n = Number(v);
  need(typeof v !== 'boolean' && v !== null && v !== '' && Number.isFinite(n) && n >= min, `${what} must be a number >= ${min} (got ${JSON.stringify(v)})`);
  return n;
}

function side(s, what) {
  need(s && typeof s === 'object', `${what} must be an object {delay_ms, failure}`);
  need(typeof s.failure === 'boolean', `${what}.failure must be true or false`);
  const delay = num(s.delay_ms, `${what}.delay_ms`);
  need(Number.isInteger(delay), `${what}.delay_ms must be an integer`);
  return { delay_ms: delay, failure: s.failure };
}

// Validates a parsed schedule and fills defaults. Throws with the offending field named.
export function normalize(raw, name) {
  need(raw && typeof raw === 'object', 'not a JSON object');
  const ramp = raw.ramp || {};
  const audit = raw.audit || {};
  const fees = raw.fees || {};
  const s = {
    name: raw.name || name,
    description: raw.description || '',
    amount: raw.amount === undefined ? '19.90' : String(raw.amount),
    fees: { default: fees.default ?? '0.05', fallback: fees.fallback ?? '0.15' },
    money_from: raw.money_from || 'backend',
    ramp: {
      duration_s: num(ramp.duration_s ?? 60, 'ramp.duration_s', 1),
      max_requests: num(ramp.max_requests ?? 550, 'ramp.max_requests', 1),
      shape: null,
    },
    audit: {
      every_s: num(audit.every_s ?? 10, 'audit.every_s', 0.1),
      from_ago_s: num(audit.from_ago_s ?? 15, 'audit.from_ago_s'),
      to_ago_s: num(audit.to_ago_s ?? 1.5, 'audit.to_ago_s'),
      diff: audit.diff || 'abs_of_sum',
    },
    teardown_window_s: raw.teardown_window_s === undefined || raw.teardown_window_s === null
      ? null : num(raw.teardown_window_s, 'teardown_window_s', 1),
    stages: [],
  };
  need(['backend', 'processors'].includes(s.money_from), `money_from must be "backend" or "processors"`);
  need(['abs_of_sum', 'sum_of_abs'].includes(s.audit.diff), `audit.diff must be "abs_of_sum" or "sum_of_abs"`);
  need(s.audit.from_ago_s > s.audit.to_ago_s, 'audit.from_ago_s must be > audit.to_ago_s');
  need(Number.isInteger(s.ramp.max_requests), 'ramp.max_requests must be an integer');
  if (ramp.shape !== undefined && ramp.shape !== null) s.ramp.shape = shape(ramp.shape, s.ramp.duration_s);
  const cents = toCents(s.amount);
  need(cents > 0 && Math.abs(Number(s.amount) * 100 - cents) < 1e-6, `amount must be positive with at most 2 decimals (got ${s.amount})`);
  s.amount_cents = cents;
  s.fee_ppm = { default: toPpm(s.fees.default), fallback: toPpm(s.fees.fallback) };
  need(Array.isArray(raw.stages) && raw.stages.length > 0, 'stages must be a non-empty array');
  let last = -1;
  raw.stages.forEach((st, i) => {
    const at = num(st.at_s, `stages[${i}].at_s`);
    need(at > last, `stages[${i}].at_s must be greater than the previous stage's`);
    need(at < s.ramp.duration_s, `stages[${i}].at_s must be before the end of the test (ramp.duration_s)`);
    last = at;
    s.stages.push({
      at_s: at,
      note: st.note || '',
      default: side(st.default, `stages[${i}].default`),
      fallback: side(st.fallback, `stages[${i}].fallback`),
    });
  });
  return s;
}

// ramp.shape: [[at_s, share], ...], the share of max_requests reached (linearly from the previous
// point; from 1 VU at 0 s) at each time; times increase and the last is the end of the test.
function shape(points, duration) {
  need(Array.isArray(points) && points.length > 0, 'ramp.shape must be a non-empty array of [at_s, share of max_requests]');
  let last = 0;
  const out = points.map((p, i) => {
    need(Array.isArray(p) && p.length === 2, `ramp.shape[${i}] must be a pair [at_s, share of max_requests]`);
    const at = num(p[0], `ramp.shape[${i}] at_s`);
    const share = num(p[1], `ramp.shape[${i}] share`);
    need(at > last, `ramp.shape[${i}] at_s must be greater than the previous point's (and than 0)`);
    need(share <= 1, `ramp.shape[${i}] share must be at most 1 (a share of max_requests)`);
    last = at;
    return { at_s: at, share };
  });
  need(last === duration, `ramp.shape must end at ramp.duration_s (${duration}), not ${last}`);
  return out;
}

// The payments scenario's ramping-vus stages: one straight ramp to maxRequests over the test, or the
// schedule's shape with each share taken of maxRequests; times scaled by timeScale.
export function vuStages(s, maxRequests, timeScale) {
  if (!s.ramp.shape) return [{ target: maxRequests, duration: ms(s.ramp.duration_s * timeScale) }];
  let last = 0;
  return s.ramp.shape.map(({ at_s, share }) => {
    const stage = { target: Math.round(share * maxRequests), duration: ms((at_s - last) * timeScale) };
    last = at_s;
    return stage;
  });
}

export function ms(seconds) {
  return `${Math.max(0, Math.round(seconds * 1000))}ms`;
}
