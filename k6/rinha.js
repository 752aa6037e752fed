// The Rinha de Backend 2025 load test, offline: the official scenarios, counters, consistency audit,
// setup/teardown and scoring, with no remote imports. The processor schedule, fees, ramp, audit window
// and where money is counted come from k6/schedules/<SCHEDULE>.json. See k6/README.md.
import http from 'k6/http';
import { sleep } from 'k6';
import exec from 'k6/execution';
import { Counter, Gauge } from 'k6/metrics';
import { uuidv4 } from './lib/uuid.js';
import { toCents, toPpm } from './lib/money.js';
import { normalize, schedulePath, ms, vuStages } from './lib/schedule.js';
import { score } from './lib/score.js';
import { textSummary } from './lib/summary.js';

// ---------------------------------------------------------------- parameters (init context)
const ENV = __ENV;
const SCHEDULE_PATH = schedulePath(ENV.SCHEDULE);
const SCHEDULE = normalize(withAuditOverride(JSON.parse(open(SCHEDULE_PATH))), ENV.SCHEDULE || 'published');
const MAX_REQUESTS = envInt('MAX_REQUESTS', SCHEDULE.ramp.max_requests);
const TIME_SCALE = envNum('TIME_SCALE', 1);
const BACKEND = trimSlash(ENV.BACKEND_URL || 'http://localhost:9999');
const PROC = {
  default: trimSlash(ENV.PROCESSOR_DEFAULT_URL || 'http://localhost:8001'),
  fallback: trimSlash(ENV.PROCESSOR_FALLBACK_URL || 'http://localhost:8002'),
};
const INITIAL_TOKEN = '123';
const TOKEN = ENV.TOKEN || INITIAL_TOKEN;
const PURGE_TOKEN = ENV.PURGE_TOKEN || ''; // optional X-Purge-Token for the backend's purge
const RESULT_DIR = trimSlash(ENV.RESULT_DIR || '.');
const PARTICIPANT = ENV.PARTICIPANT || 'rinha-rs';
const TIMEOUT = '1500ms'; // every request, like the official Httpx clients; never scaled
const SUCCESS = [200, 201, 202, 204];

const DURATION_S = SCHEDULE.ramp.duration_s * TIME_SCALE; // ramp == test length; audits run as long
const TEARDOWN_WINDOW_S = SCHEDULE.teardown_window_s ?? DURATION_S + 10;
const AMOUNT = SCHEDULE.amount_cents / 100;

// AUDIT_TO_AGO_S / AUDIT_FROM_AGO_S move the audit window of any schedule, so one schedule can be run with
// the window a little shorter and longer than the backend's audit_slack_ms assumes.
function withAuditOverride(raw) {
  const audit = { ...(raw.audit || {}) };
  for (const [envName, key] of [['AUDIT_TO_AGO_S', 'to_ago_s'], ['AUDIT_FROM_AGO_S', 'from_ago_s']]) {
    if (ENV[envName] !== undefined && ENV[envName] !== '') audit[key] = Number(ENV[envName]);
  }
  return { ...raw, audit };
}

function envNum(name, dflt) {
  if (ENV[name] === undefined || ENV[name] === '') return dflt;
  const n = Number(ENV[name]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number (got ${ENV[name]})`);
  return n;
}
function envInt(name, dflt) {
  const n = envNum(name, dflt);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer (got ${ENV[name]})`);
  return n;
}
function trimSlash(s) {
  return s.replace(/\/+$/, '');
}

// ---------------------------------------------------------------- options
const scenarios = {
  payments: {
    exec: 'payments',
    executor: 'ramping-vus',
    startVUs: 1,
    // The official test has 0s, which never applies to its ramp (it only rises). Where a shaped ramp
    // falls, a VU removed mid-POST would leave a payment the backend accepted and k6 never counted: let
    // the iteration finish (request timeout + the 1 s sleep), then stop the VU.
    gracefulRampDown: '3s',
    stages: vuStages(SCHEDULE, MAX_REQUESTS, TIME_SCALE),
  },
  payments_consistency: {
    exec: 'checkPaymentsConsistency',
    executor: 'constant-vus',
    vus: 1,
    duration: ms(DURATION_S),
  },
};
SCHEDULE.stages.forEach((st, i) => {
  scenarios[`stage_${String(i).padStart(2, '0')}`] = {
    exec: 'defineStage',
    executor: 'per-vu-iterations',
    vus: 1,
    iterations: 1,
    startTime: ms(st.at_s * TIME_SCALE),
    maxDuration: '10s',
  };
});

export const options = {
  scenarios,
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(99)', 'count'],
  // Always-true thresholds: they only make k6 keep these submetrics so handleSummary can read them.
  thresholds: {
    'http_req_duration{expected_response:true}': ['p(99)>=0'],
    'http_req_duration{expected_response:true,target:backend}': ['p(99)>=0'],
    'http_req_duration{expected_response:true,op:post_payment}': ['p(99)>=0'],
    'http_req_duration{expected_response:true,target:processor}': ['p(99)>=0'],
  },
};

// ---------------------------------------------------------------- metrics
const transactionsSuccess = new Counter('transactions_success');
const transactionsFailure = new Counter('transactions_failure');
const paymentsInconsistency = new Counter('payments_inconsistency');
const auditsTotal = new Counter('audits_total');
const auditsNonempty = new Counter('audits_nonempty');
const auditErrors = new Counter('audit_errors');
const auditedPayments = new Counter('audited_payments'); // processors' count over every audit window
const stagesApplied = new Counter('stages_applied');
// Teardown facts for handleSummary (teardown's return value never reaches it; metrics do).
const TD = {};
for (const k of [
  'backend_ok', 'backend_default_requests', 'backend_default_cents', 'backend_fallback_requests', 'backend_fallback_cents',
  'proc_default_ok', 'proc_default_requests', 'proc_default_cents', 'proc_default_fee_ppm',
  'proc_fallback_ok', 'proc_fallback_requests', 'proc_fallback_cents', 'proc_fallback_fee_ppm',
  'window_s',
]) TD[k] = new Gauge(`td_${k}`);

// ---------------------------------------------------------------- requests
function params(target, op, extraHeaders) {
  const headers = { 'Content-Type': 'application/json' };
  if (target === 'processor') headers['X-Rinha-Token'] = TOKEN;
  Object.assign(headers, extraHeaders || {});
  return { headers, timeout: TIMEOUT, tags: { target, op, name: op } };
}

function procSummaryReq(p, from, to) {
  return {
    method: 'GET',
    url: `${PROC[p]}/admin/payments-summary?from=${from}&to=${to}`,
    params: params('processor', 'admin_summary'),
  };
}

function backendSummaryReq(from, to) {
  return { method: 'GET', url: `${BACKEND}/payments-summary?from=${from}&to=${to}`, params: params('backend', 'summary') };
}

function parseJson(res, what) {
  if (res.status !== 200) {
    console.error(`${what}: HTTP ${res.status} ${res.error || ''}`.trim());
    return null;
  }
  try {
    return JSON.parse(res.body);
  } catch (e) {
    console.error(`${what}: unreadable body (${e})`);
    return null;
  }
}

function procSummary(res, p) {
  const j = parseJson(res, `processor ${p} /admin/payments-summary`);
  if (!j) return { ok: false, totalRequests: 0, totalAmount: 0, feePerTransaction: 0 };
  return { ok: true, totalRequests: j.totalRequests | 0, totalAmount: Number(j.totalAmount) || 0, feePerTransaction: Number(j.feePerTransaction) || 0 };
}

function backendSummary(res) {
  const j = parseJson(res, 'backend /payments-summary');
  const side = (x) => ({ totalRequests: (x && x.totalRequests) | 0, totalAmount: Number(x && x.totalAmount) || 0 });
  if (!j) return { ok: false, default: side(null), fallback: side(null) };
  return { ok: true, default: side(j.default), fallback: side(j.fallback) };
}

// ---------------------------------------------------------------- lifecycle
export function setup() {
  for (const p of ['default', 'fallback']) {
    const body = JSON.stringify({ token: TOKEN });
    let res = http.put(`${PROC[p]}/admin/configurations/token`, body, params('processor', 'admin_config', { 'X-Rinha-Token': INITIAL_TOKEN }));
    if (res.status === 401 && TOKEN !== INITIAL_TOKEN) {
      // Already set by an earlier run against the same processors.
      res = http.put(`${PROC[p]}/admin/configurations/token`, body, params('processor', 'admin_config'));
    }
    if (res.status !== 204) exec.test.abort(`could not set the token of processor ${p} (${PROC[p]}): HTTP ${res.status} ${res.error || ''}`);
  }
  for (const p of ['default', 'fallback']) {
    const res = http.post(`${PROC[p]}/admin/purge-payments`, null, params('processor', 'admin_purge'));
    if (res.status !== 200) exec.test.abort(`could not purge processor ${p} (${PROC[p]}): HTTP ${res.status} ${res.error || ''}`);
  }
  const purge = http.post(`${BACKEND}/purge-payments`, null,
    params('backend', 'purge', PURGE_TOKEN ? { 'X-Purge-Token': PURGE_TOKEN } : {}));
  if (!SUCCESS.includes(purge.status)) {
    console.warn(`backend POST /purge-payments: HTTP ${purge.status} ${purge.error || ''} (ignored)`);
  }
  console.info(`schedule ${SCHEDULE.name} (${SCHEDULE_PATH}), ${SCHEDULE.stages.length} stages, ramp 1 -> ${MAX_REQUESTS} VUs over ${DURATION_S}s${SCHEDULE.ramp.shape ? ` (shaped: ${SCHEDULE.ramp.shape.length} points)` : ''} (time scale ${TIME_SCALE}), money from ${SCHEDULE.money_from}`);
  return { startedAt: new Date().toISOString(), backendPurgeStatus: purge.status };
}

export function payments() {
  const body = JSON.stringify({ correlationId: uuidv4(), amount: AMOUNT });
  const res = http.post(`${BACKEND}/payments`, body, params('backend', 'post_payment'));
  if (SUCCESS.includes(res.status)) {
    transactionsSuccess.add(1);
    transactionsFailure.add(0);
  } else {
    transactionsSuccess.add(0);
    transactionsFailure.add(1);
  }
  sleep(1);
}

export function checkPaymentsConsistency() {
  const end = exec.scenario.startTime + DURATION_S * 1000;
  if (Date.now() > end - 100) {
    // No audit squeezed in at the very end of a scaled run; wait out the scenario instead of spinning.
    sleep(Math.max(0, (end - Date.now()) / 1000 + 0.05));
    return;
  }
  const now = Date.now();
  const from = new Date(now - SCHEDULE.audit.from_ago_s * 1000).toISOString();
  const to = new Date(now - SCHEDULE.audit.to_ago_s * 1000).toISOString();
  const [rd, rf, rb] = http.batch([procSummaryReq('default', from, to), procSummaryReq('fallback', from, to), backendSummaryReq(from, to)]);
  const d = procSummary(rd, 'default');
  const f = procSummary(rf, 'fallback');
  const b = backendSummary(rb);
  const dd = b.default.totalRequests - d.totalRequests;
  const df = b.fallback.totalRequests - f.totalRequests;
  const inconsistencies = SCHEDULE.audit.diff === 'sum_of_abs' ? Math.abs(dd) + Math.abs(df) : Math.abs(dd + df);
  paymentsInconsistency.add(inconsistencies);
  auditsTotal.add(1);
  auditsNonempty.add(d.totalRequests + f.totalRequests > 0 ? 1 : 0);
  auditErrors.add(d.ok && f.ok && b.ok ? 0 : 1);
  auditedPayments.add(d.totalRequests + f.totalRequests);
  if (inconsistencies > 0) {
    console.warn(`${inconsistencies} inconsistências encontradas in [${from}, ${to}]: backend default/fallback ` +
      `${b.default.totalRequests}/${b.fallback.totalRequests} vs processors ${d.totalRequests}/${f.totalRequests}`);
  }
  // The official VU sleeps 10 s; never sleep past the end of a (scaled) run, which would delay teardown.
  sleep(Math.max(0, Math.min(SCHEDULE.audit.every_s, (end - Date.now()) / 1000 + 0.05)));
}

export function defineStage() {
  const i = parseInt(exec.scenario.name.slice('stage_'.length), 10);
  const st = SCHEDULE.stages[i];
  const put = (p, what, body, expect) => {
    const res = http.put(`${PROC[p]}/admin/configurations/${what}`, JSON.stringify(body), params('processor', 'admin_config'));
    if (res.status !== expect) exec.test.abort(`could not set ${what} of processor ${p}: HTTP ${res.status} ${res.error || ''}`);
  };
  put('default', 'delay', { delay: st.default.delay_ms }, 200);
  put('fallback', 'delay', { delay: st.fallback.delay_ms }, 200);
  put('default', 'failure', { failure: st.default.failure }, 200);
  put('fallback', 'failure', { failure: st.fallback.failure }, 200);
  stagesApplied.add(1);
  console.info(`stage ${i} at ${st.at_s * TIME_SCALE}s: default ${st.default.delay_ms}ms${st.default.failure ? ' failing' : ''}, ` +
    `fallback ${st.fallback.delay_ms}ms${st.fallback.failure ? ' failing' : ''}${st.note ? ` (${st.note})` : ''}`);
}

export function teardown() {
  const toD = new Date();
  const to = toD.toISOString();
  const from = new Date(toD.getTime() - TEARDOWN_WINDOW_S * 1000).toISOString();
  console.info(`summaries from ${from} to ${to}`);
  const [rd, rf, rb] = http.batch([procSummaryReq('default', from, to), procSummaryReq('fallback', from, to), backendSummaryReq(from, to)]);
  const d = procSummary(rd, 'default');
  const f = procSummary(rf, 'fallback');
  const b = backendSummary(rb);
  TD.window_s.add(TEARDOWN_WINDOW_S);
  TD.backend_ok.add(b.ok ? 1 : 0);
  TD.backend_default_requests.add(b.default.totalRequests);
  TD.backend_default_cents.add(toCents(b.default.totalAmount));
  TD.backend_fallback_requests.add(b.fallback.totalRequests);
  TD.backend_fallback_cents.add(toCents(b.fallback.totalAmount));
  for (const [p, s] of [['default', d], ['fallback', f]]) {
    TD[`proc_${p}_ok`].add(s.ok ? 1 : 0);
    TD[`proc_${p}_requests`].add(s.totalRequests);
    TD[`proc_${p}_cents`].add(toCents(s.totalAmount));
    TD[`proc_${p}_fee_ppm`].add(s.ok ? toPpm(s.feePerTransaction) : 0);
  }
}

// ---------------------------------------------------------------- scoring
function metricValue(data, name, field, dflt = 0) {
  const m = data.metrics[name];
  return m && m.values && m.values[field] !== undefined ? m.values[field] : dflt;
}

export function handleSummary(data) {
  const count = (n) => metricValue(data, n, 'count');
  const td = (k) => metricValue(data, `td_${k}`, 'value');
  const tdOk = data.metrics.td_window_s !== undefined; // teardown ran and recorded its facts

  // Fees: the processors' own feePerTransaction (what the official test reads), else the schedule's.
  const feePpm = {};
  const feeSource = {};
  const warnings = [];
  for (const p of ['default', 'fallback']) {
    if (tdOk && td(`proc_${p}_ok`) === 1) {
      feePpm[p] = td(`proc_${p}_fee_ppm`);
      feeSource[p] = 'processor';
      if (feePpm[p] !== SCHEDULE.fee_ppm[p]) {
        warnings.push(`processor ${p} charges ${feePpm[p] / 1e6} but schedule ${SCHEDULE.name} says ${SCHEDULE.fees[p]} (start the processors with the schedule's fees)`);
      }
    } else {
      feePpm[p] = SCHEDULE.fee_ppm[p];
      feeSource[p] = 'schedule';
      warnings.push(`processor ${p} admin summary unavailable at teardown; fee taken from the schedule`);
    }
  }
  if (!tdOk) warnings.push('teardown facts missing: money counted as 0');
  else if (SCHEDULE.money_from === 'backend' && td('backend_ok') !== 1) warnings.push('backend /payments-summary failed at teardown: money counted as 0');

  const facts = {
    participant: PARTICIPANT,
    maxRequests: MAX_REQUESTS,
    p99Ms: metricValue(data, 'http_req_duration{expected_response:true}', 'p(99)'),
    inconsistencies: count('payments_inconsistency'),
    postsOk: count('transactions_success'),
    postsFailed: count('transactions_failure'),
    moneyFrom: SCHEDULE.money_from,
    backend: {
      default: { requests: td('backend_default_requests'), cents: td('backend_default_cents') },
      fallback: { requests: td('backend_fallback_requests'), cents: td('backend_fallback_cents') },
    },
    processors: {
      default: { requests: td('proc_default_requests'), cents: td('proc_default_cents') },
      fallback: { requests: td('proc_fallback_requests'), cents: td('proc_fallback_cents') },
    },
    feePpm,
  };
  const r = score(facts);
  const p99Of = (sub) => {
    const name = `http_req_duration{expected_response:true${sub}}`;
    return metricValue(data, name, 'count') > 0 ? metricValue(data, name, 'p(99)', null) : null;
  };
  const extra = {
    schedule: SCHEDULE.name,
    schedule_path: SCHEDULE_PATH,
    time_scale: TIME_SCALE,
    duration_s: DURATION_S,
    max_requests: MAX_REQUESTS,
    money_from: SCHEDULE.money_from,
    audit_diff: SCHEDULE.audit.diff,
    audit_window_ago_s: [SCHEDULE.audit.from_ago_s, SCHEDULE.audit.to_ago_s],
    score: r.official.total_liquido,
    score_exact: r.exact.score,
    gross_exact: r.exact.gross,
    fees_exact: r.exact.fees,
    net_exact: r.exact.net,
    p99_ms: r.p99,
    p99_raw_ms: facts.p99Ms,
    p99_backend_ms: p99Of(',target:backend'),
    p99_post_ms: p99Of(',op:post_payment'),
    p99_processor_admin_ms: p99Of(',target:processor'),
    bonus_pct: r.bonusPct,
    fine_pct: r.finePct,
    inconsistencies: facts.inconsistencies,
    audits_total: count('audits_total'),
    audits_nonempty: count('audits_nonempty'),
    audit_errors: count('audit_errors'),
    audited_payments: count('audited_payments'),
    stages_applied: count('stages_applied'),
    stages_total: SCHEDULE.stages.length,
    posts_ok: facts.postsOk,
    posts_failed: facts.postsFailed,
    lag: r.lag,
    http_reqs: count('http_reqs'),
    http_req_failed_rate: metricValue(data, 'http_req_failed', 'rate'),
    teardown_ok: tdOk,
    teardown_window_s: TEARDOWN_WINDOW_S,
    backend_summary_ok: td('backend_ok') === 1,
    backend_default_count: facts.backend.default.requests,
    backend_default_amount: facts.backend.default.cents / 100,
    backend_default_cents: facts.backend.default.cents,
    backend_fallback_count: facts.backend.fallback.requests,
    backend_fallback_amount: facts.backend.fallback.cents / 100,
    backend_fallback_cents: facts.backend.fallback.cents,
    processor_default_count: facts.processors.default.requests,
    processor_default_cents: facts.processors.default.cents,
    processor_fallback_count: facts.processors.fallback.requests,
    processor_fallback_cents: facts.processors.fallback.cents,
    fee_ppm: feePpm,
    fee_source: feeSource,
    schedule_fees: SCHEDULE.fees,
    warnings,
  };
  const line = `RESULT schedule=${SCHEDULE.name} score=${r.official.total_liquido} p99=${r.p99}ms ` +
    `p99_backend=${extra.p99_backend_ms === null ? 'n/a' : extra.p99_backend_ms.toFixed(3) + 'ms'} bonus=${r.bonusPct}% ` +
    `inconsistencies=${facts.inconsistencies} audits=${extra.audits_nonempty}/${extra.audits_total} ` +
    `posts_ok=${facts.postsOk} posts_failed=${facts.postsFailed} lag=${r.lag} ` +
    `default=${r.official.pagamentos_realizados_default.num_pagamentos} fallback=${r.official.pagamentos_realizados_fallback.num_pagamentos}`;
  const out = {};
  out.stdout = textSummary(data) + '\n' + warnings.map((w) => `WARNING ${w}\n`).join('') + line + '\n';
  out[`${RESULT_DIR}/score.json`] = JSON.stringify(r.official, null, 2) + '\n';
  out[`${RESULT_DIR}/k6-extra.json`] = JSON.stringify(extra, null, 2) + '\n';
  return out;
}
