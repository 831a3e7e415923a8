// How much load a script offers, from the environment: VUS closed loops for
// DURATION, or with RATE an open-loop constant arrival rate (requests/s) for
// latency at a fixed load.
export function load(scenario) {
  const vus = Number(__ENV.VUS || 16);
  const duration = __ENV.DURATION || '30s';
  const rate = Number(__ENV.RATE || 0);
  if (rate <= 0) {
    return { vus, duration };
  }
  return {
    scenarios: {
      [scenario]: {
        executor: 'constant-arrival-rate',
        rate,
        timeUnit: '1s',
        duration,
        preAllocatedVUs: vus,
        maxVUs: 4 * vus,
      },
    },
  };
}
