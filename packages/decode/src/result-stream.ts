// A stream of pieces whose generator returns a summary (a generation, a chat reply): iterate for
// the pieces; result() drains what is left and resolves to the summary.

export interface ResultStream<T, R> extends AsyncIterable<T> {
  result(): Promise<R>;
}

/**
 * Wraps `run`: its yields are the pieces, its return value the summary. A consumer that breaks out
 * of the iteration ends `run` (its finally blocks run); result() then throws `endedEarly()`.
 */
export function resultStream<T, R>(run: AsyncGenerator<T, R, void>, endedEarly: () => Error): ResultStream<T, R> {
  let summary: { value: R } | null = null;
  const pieces = (async function* () {
    summary = { value: yield* run };
  })();
  return {
    [Symbol.asyncIterator]: () => pieces,
    async result() {
      while (!(await pieces.next()).done) {
        /* drain */
      }
      if (!summary) throw endedEarly();
      return summary.value;
    },
  };
}
