// The session's event stream. EventSource reconnects by itself after a network drop and sends
// Last-Event-ID, so the server resumes without gaps or repeats. When the server refuses the
// stream (any non-200 answer, a 401 included) EventSource gives up for good; then the stream
// is opened again from the last event seen, after a growing pause, and the caller is told so it
// can check the token.
export class SessionStream {
    url;
    handlers;
    source = null;
    lastSeq;
    retryDelay = 1000;
    retryTimer;
    stopped = false;
    constructor(url, handlers, after = 0) {
        this.url = url;
        this.handlers = handlers;
        this.lastSeq = after;
        this.open();
    }
    open() {
        if (this.stopped)
            return;
        this.handlers.onState("connecting");
        const source = new EventSource(this.url(this.lastSeq));
        this.source = source;
        source.onopen = () => {
            this.retryDelay = 1000;
            this.handlers.onState("open");
        };
        source.onmessage = (message) => {
            let event;
            try {
                event = JSON.parse(message.data);
            }
            catch {
                return;
            }
            if (typeof event.seq === "number" && event.seq > this.lastSeq)
                this.lastSeq = event.seq;
            this.handlers.onEvent(event);
        };
        source.onerror = () => {
            if (source.readyState === EventSource.CLOSED) {
                this.handlers.onState("closed");
                source.close();
                void this.handlers.onRefused().then((retry) => {
                    if (retry)
                        this.scheduleRetry();
                });
            }
            else {
                this.handlers.onState("connecting");
            }
        };
    }
    scheduleRetry() {
        if (this.stopped)
            return;
        window.clearTimeout(this.retryTimer);
        this.retryTimer = window.setTimeout(() => this.open(), this.retryDelay);
        this.retryDelay = Math.min(this.retryDelay * 2, 15000);
    }
    close() {
        this.stopped = true;
        window.clearTimeout(this.retryTimer);
        this.source?.close();
        this.source = null;
    }
}
