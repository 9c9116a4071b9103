/**
 * The benchmark harness's shared pieces: one figure per JSON line, and timing helpers that
 * report order statistics rather than a single noisy mean.
 */
export interface Figure {
  readonly bench: string
  readonly metric: string
  readonly value: number
  readonly unit: string
}

export interface Bench {
  readonly name: string
  readonly description: string
  readonly run: () => Promise<ReadonlyArray<Figure>>
}

/** Runs `f` `warmup` times untimed, then `runs` times timed; returns sorted durations in ms. */
export const sample = (f: () => unknown, runs: number, warmup = Math.min(5, runs)): Array<number> => {
  for (let i = 0; i < warmup; i++) f()
  const times: Array<number> = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    f()
    times.push(performance.now() - start)
  }
  return times.sort((a, b) => a - b)
}

export const quantile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

export const round = (n: number, digits = 2): number => Number(n.toFixed(digits))
