// The official scoring of the Rinha de Backend 2025 test, as a pure function over the facts k6 collected.
// Money is exact: counts and cents are integers, fees are integer parts per million, sums are BigInt.
import { formatScaled, roundHalfUpString, scaledToNumber } from './money.js';

const FINE_PCT = 35n;

export const TEXTS = {
  total: "'total_liquido' é sua pontuação final. Equivale ao seu lucro. Fórmula: total_liquido + (total_liquido * p99.bonus) - (total_liquido * multa.porcentagem)",
  p99: 'Fórmula para o bônus: max((11 - p99.valor) * 0.02, 0)',
  multa: "Se 'num_inconsistencias' > 0, há multa de 35%.",
  caixaDois: "Se 'lag' for negativo, significa que seu backend registrou mais pagamentos do que solicitado, automaticamente desclassificando sua submissão!",
  lag: 'Lag é a diferença entre a quantidade de solicitações de pagamentos e o que foi realmente computado pelo backend. Mostra a perda de pagamentos possivelmente por estarem enfileirados.',
  solicitados: "'qtd_sucesso' foram requests bem sucedidos para 'POST /payments' e 'qtd_falha' os requests com erro.",
  realizadosDefault: 'Informações do backend sobre solicitações de pagamento para o Payment Processor Default.',
  realizadosFallback: 'Informações do backend sobre solicitações de pagamento para o Payment Processor Fallback.',
};

// p99 (ms, raw float) -> { p99: "2.93", bonusPct: 16n } exactly as the contest rounds:
// p99 rounded half-up to 2 places; bonus = max(round2((11 - p99) * 0.02), 0) computed on doubles.
export function p99Bonus(p99Raw) {
  const p99 = roundHalfUpString(p99Raw, 2);
  const bonus = roundHalfUpString((11 - Number(p99)) * 0.02, 2); // a fraction with <= 2 decimals
  const neg = bonus.startsWith('-');
  const [ip, fp = ''] = bonus.replace('-', '').split('.');
  let pct = BigInt(ip) * 100n + BigInt(fp.padEnd(2, '0'));
  if (neg || pct < 0n) pct = 0n;
  return { p99, bonusPct: pct };
}

// facts: {
//   participant, maxRequests, p99Ms, inconsistencies, postsOk, postsFailed,
//   moneyFrom: 'backend' | 'processors',
//   backend:    { default: { requests, cents }, fallback: { requests, cents } },
//   processors: { default: { requests, cents }, fallback: { requests, cents } },
//   feePpm:     { default, fallback },
// }
export function score(facts) {
  const src = facts.moneyFrom === 'processors' ? facts.processors : facts.backend;
  const per = {};
  let grossU = 0n; // units of 1e-8 currency (cents * 1e6)
  let feesU = 0n;
  for (const p of ['default', 'fallback']) {
    const cents = BigInt(src[p].cents);
    const fee = cents * BigInt(facts.feePpm[p]);
    per[p] = { requests: src[p].requests, cents, feeU: fee };
    grossU += cents * 1000000n;
    feesU += fee;
  }
  const netU = grossU - feesU;
  const { p99, bonusPct } = p99Bonus(facts.p99Ms);
  const finePct = facts.inconsistencies > 0 ? FINE_PCT : 0n;
  const scoreU10 = netU * (100n + bonusPct - finePct); // units of 1e-10 currency
  const fineU10 = netU * finePct;
  const counted = per.default.requests + per.fallback.requests;
  const lag = facts.postsOk - counted;

  const official = {
    participante: facts.participant,
    total_liquido: scaledToNumber(scoreU10, 10),
    total_bruto: scaledToNumber(grossU, 8),
    total_taxas: scaledToNumber(feesU, 8),
    descricao: TEXTS.total,
    p99: {
      valor: `${Number(p99)}ms`,
      bonus: `${bonusPct}%`,
      max_requests: String(facts.maxRequests),
      descricao: TEXTS.p99,
    },
    multa: {
      porcentagem: Number(finePct) / 100,
      total: scaledToNumber(fineU10, 10),
      composicao: {
        num_inconsistencias: facts.inconsistencies,
        descricao: TEXTS.multa,
      },
    },
    caixa_dois: { detectado: lag < 0, descricao: TEXTS.caixaDois },
    lag: {
      num_pagamentos_total: counted,
      num_pagamentos_solicitados: facts.postsOk,
      lag,
      descricao: TEXTS.lag,
    },
    pagamentos_solicitados: {
      qtd_sucesso: facts.postsOk,
      qtd_falha: facts.postsFailed,
      descricao: TEXTS.solicitados,
    },
    pagamentos_realizados_default: {
      total_bruto: scaledToNumber(per.default.cents, 2),
      num_pagamentos: per.default.requests,
      total_taxas: scaledToNumber(per.default.feeU, 8),
      descricao: TEXTS.realizadosDefault,
    },
    pagamentos_realizados_fallback: {
      total_bruto: scaledToNumber(per.fallback.cents, 2),
      num_pagamentos: per.fallback.requests,
      total_taxas: scaledToNumber(per.fallback.feeU, 8),
      descricao: TEXTS.realizadosFallback,
    },
  };
  return {
    official,
    exact: {
      score: formatScaled(scoreU10, 10),
      gross: formatScaled(grossU, 8),
      fees: formatScaled(feesU, 8),
      net: formatScaled(netU, 8),
    },
    p99: Number(p99),
    bonusPct: Number(bonusPct),
    finePct: Number(finePct),
    lag,
  };
}
