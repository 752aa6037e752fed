// The soak: POST /payments at a constant arrival rate (k6's constant-arrival-rate executor), nothing else.
// Unlike rinha.js it keeps sending at RATE per second whatever the latency, so a backend that slows down
// shows up as failed or dropped requests instead of as a slower test. Counts go to RESULT_DIR/k6-soak.json;
// tests/stack/soak.py compares them with our summary and the processors' (see README, "Soak").
//
//   RATE=300 DURATION=120 BACKEND_URL=http://127.0.0.1:9999 RESULT_DIR=out k6 run k6/soak.js
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';
import { uuidv4 } from './lib/uuid.js';

const RATE = parseInt(__ENV.RATE || '300', 10);
const DURATION = parseInt(__ENV.DURATION || '120', 10);
const BACKEND = __ENV.BACKEND_URL || 'http://127.0.0.1:9999';
const AMOUNT = __ENV.AMOUNT || '19.90'; // one amount, so money checks are count × AMOUNT, exact
const RESULT_DIR = __ENV.RESULT_DIR || '.';

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['med', 'p(99)', 'max'],
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: `${DURATION}s`,
      // A healthy backend answers in a few ms, but starting VUs mid-run costs k6 CPU on a loaded machine (it
      // then drops iterations), so a fifth of the rate is ready up front. A stalled backend holds a VU for the
      // whole 1.5 s timeout: at most RATE VUs, beyond that k6 drops iterations and the report says so.
      preAllocatedVUs: Math.max(20, Math.ceil(RATE / 5)),
      maxVUs: Math.max(100, RATE),
      gracefulStop: '3s',
    },
  },
};

const accepted = new Counter('posts_accepted'); // 202
const refused = new Counter('posts_refused_4xx');
const failed = new Counter('posts_failed_5xx');
const noAnswer = new Counter('posts_no_answer'); // timeout or connection error (status 0)
const other = new Counter('posts_other');
const postMs = new Trend('post_ms', true);
let printed = 0;

export default function () {
  const res = http.post(`${BACKEND}/payments`, JSON.stringify({ correlationId: uuidv4(), amount: Number(AMOUNT) }), {
    headers: { 'Content-Type': 'application/json' },
    timeout: '1.5s',
    responseType: 'none',
  });
  postMs.add(res.timings.duration);
  if (res.status === 202) accepted.add(1);
  else if (res.status === 0) noAnswer.add(1);
  else if (res.status >= 500) failed.add(1);
  else if (res.status >= 400) refused.add(1);
  else other.add(1);
  if (res.status !== 202 && printed < 20) {
    printed++;
    console.log(`POST answered ${res.status} ${res.error || ''} after ${res.timings.duration.toFixed(0)} ms`);
  }
}

function count(data, name) {
  const m = data.metrics[name];
  return m ? m.values.count : 0;
}

export function handleSummary(data) {
  const ms = data.metrics.post_ms ? data.metrics.post_ms.values : {};
  const out = {
    rate: RATE,
    duration_s: DURATION,
    amount: AMOUNT,
    accepted: count(data, 'posts_accepted'),
    refused_4xx: count(data, 'posts_refused_4xx'),
    failed_5xx: count(data, 'posts_failed_5xx'),
    no_answer: count(data, 'posts_no_answer'),
    other: count(data, 'posts_other'),
    dropped_iterations: count(data, 'dropped_iterations'),
    iterations: count(data, 'iterations'),
    post_ms_median: ms.med,
    post_ms_p99: ms['p(99)'],
    post_ms_max: ms.max,
  };
  const line = `SOAK accepted=${out.accepted} refused_4xx=${out.refused_4xx} failed_5xx=${out.failed_5xx} ` +
    `no_answer=${out.no_answer} dropped=${out.dropped_iterations} p99=${(out.post_ms_p99 || 0).toFixed(2)}ms\n`;
  return { [`${RESULT_DIR}/k6-soak.json`]: JSON.stringify(out, null, 2) + '\n', stdout: line };
}
