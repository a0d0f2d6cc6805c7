// An async-iterable queue of completion chunks: the worker pushes, the caller pulls with
// `for await`. Chunks that arrive before the caller asks are buffered, so nothing is lost
// when the consumer is slower than the engine.

export class ChunkStream {
  #buffer = [];
  #waiting = null;
  #ended = false;
  #error = null;
  #onCancel;

  /** @param {() => void} onCancel  called when the consumer stops iterating early */
  constructor(onCancel) {
    this.#onCancel = onCancel;
  }

  push(chunk) {
    if (this.#ended) return;
    if (this.#waiting) {
      const { resolve } = this.#waiting;
      this.#waiting = null;
      resolve({ value: chunk, done: false });
    } else {
      this.#buffer.push(chunk);
    }
  }

  end() {
    this.#settle(null);
  }

  fail(error) {
    this.#settle(error);
  }

  /** Stops the generation; the stream still delivers its final chunk (finish_reason "abort"). */
  abort() {
    this.#onCancel();
  }

  #settle(error) {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    if (this.#waiting) {
      const { resolve, reject } = this.#waiting;
      this.#waiting = null;
      if (error) reject(error);
      else resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this.#buffer.length > 0) return Promise.resolve({ value: this.#buffer.shift(), done: false });
        if (this.#ended) {
          if (this.#error) {
            const error = this.#error;
            this.#error = null;
            return Promise.reject(error);
          }
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => {
          this.#waiting = { resolve, reject };
        });
      },
      return: () => {
        // The consumer left the loop (break, throw): the generation is no longer wanted.
        if (!this.#ended) this.#onCancel();
        this.#buffer.length = 0;
        this.#settle(null);
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
