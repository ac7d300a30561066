// The session's event stream. EventSource reconnects by itself after a network drop and sends
// Last-Event-ID, so the server resumes without gaps or repeats. When the server refuses the
// stream (any non-200 answer, a 401 included) EventSource gives up for good; then the stream
// is opened again from the last event seen, after a growing pause, and the caller is told so it
// can check the token.

import type { ServerEvent } from "./types.js";

export type StreamState = "connecting" | "open" | "closed";

export interface StreamHandlers {
  onEvent(event: ServerEvent): void;
  onState(state: StreamState): void;
  /** EventSource closed for good (the server refused it); return false to stop retrying. */
  onRefused(): Promise<boolean>;
}

export class SessionStream {
  private source: EventSource | null = null;
  private lastSeq: number;
  private retryDelay = 1000;
  private retryTimer: number | undefined;
  private stopped = false;

  constructor(
    private readonly url: (after: number) => string,
    private readonly handlers: StreamHandlers,
    after = 0,
  ) {
    this.lastSeq = after;
    this.open();
  }

  private open(): void {
    if (this.stopped) return;
    this.handlers.onState("connecting");
    const source = new EventSource(this.url(this.lastSeq));
    this.source = source;
    source.onopen = () => {
      this.retryDelay = 1000;
      this.handlers.onState("open");
    };
    source.onmessage = (message: MessageEvent<string>) => {
      let event: ServerEvent;
      try {
        event = JSON.parse(message.data) as ServerEvent;
      } catch {
        return;
      }
      if (typeof event.seq === "number" && event.seq > this.lastSeq) this.lastSeq = event.seq;
      this.handlers.onEvent(event);
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        this.handlers.onState("closed");
        source.close();
        void this.handlers.onRefused().then((retry) => {
          if (retry) this.scheduleRetry();
        });
      } else {
        this.handlers.onState("connecting");
      }
    };
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => this.open(), this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, 15000);
  }

  close(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = null;
  }
}
