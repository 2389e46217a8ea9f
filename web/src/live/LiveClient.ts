import type { Job } from "../api/types";

/** Live job status over the WebSocket API (tasklane/live.py speaks the other end).
 *
 * Subscriptions are to one job or to every job of the tenant. Each pushed job carries its sequence: an event
 * applies only when its sequence is above the one held for that job, a snapshot (the answer to a subscribe)
 * always applies. After a drop the client reconnects with backoff and subscribes again, each job with the last
 * sequence it holds: the server answers nothing when nothing was missed, or a fresh snapshot.
 */
export type LiveState = "connecting" | "open" | "closed";
export type JobListener = (job: Job, info: { seq: number; snapshot: boolean }) => void;

interface SocketLike {
  readyState: number;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => SocketLike;

export interface LiveClientOptions {
  url: string;
  authorization: string;
  socketFactory?: SocketFactory;
  /** Delays before reconnect attempts; the last repeats. */
  backoffMs?: number[];
  /** API Gateway closes a connection idle for 10 minutes. */
  pingMs?: number;
  random?: () => number;
}

const OPEN = 1;
const ALL = "*";

export class LiveClient {
  private socket: SocketLike | null = null;
  private readonly seqs = new Map<string, number>();
  private readonly listeners = new Map<string, Set<JobListener>>();
  private readonly stateListeners = new Set<(state: LiveState) => void>();
  private stateValue: LiveState = "closed";
  private attempts = 0;
  private stopped = true;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private readonly options: Required<LiveClientOptions>;

  constructor(options: LiveClientOptions) {
    this.options = {
      url: options.url,
      authorization: options.authorization,
      socketFactory: options.socketFactory ?? ((url) => new WebSocket(url) as unknown as SocketLike),
      backoffMs: options.backoffMs ?? [250, 1000, 2000, 5000, 10000],
      pingMs: options.pingMs ?? 5 * 60 * 1000,
      random: options.random ?? Math.random,
    };
  }

  get state(): LiveState {
    return this.stateValue;
  }

  /** The sequence held for a job (what a resubscribe sends as last_seq). */
  sequence(jobId: string): number | undefined {
    return this.seqs.get(jobId);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.reconnectTimer = this.pingTimer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = socket.onmessage = socket.onerror = socket.onopen = null;
      socket.close(1000, "bye");
    }
    this.setState("closed");
  }

  onState(listener: (state: LiveState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Follow one job; returns the function that stops following it. */
  watchJob(jobId: string, listener: JobListener): () => void {
    return this.watch(jobId, listener);
  }

  /** Follow every job of the tenant. */
  watchTenant(listener: JobListener): () => void {
    return this.watch(ALL, listener);
  }

  private watch(key: string, listener: JobListener): () => void {
    let set = this.listeners.get(key);
    const first = !set;
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(listener);
    if (first) this.sendSubscribe(key);
    return () => {
      const current = this.listeners.get(key);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) {
        this.listeners.delete(key);
        this.send({ action: "unsubscribe", ...(key === ALL ? {} : { job_id: key }) });
      }
    };
  }

  private connect(): void {
    this.setState("connecting");
    const separator = this.options.url.includes("?") ? "&" : "?";
    const socket = this.options.socketFactory(
      `${this.options.url}${separator}token=${encodeURIComponent(this.options.authorization)}`,
    );
    this.socket = socket;
    socket.onopen = () => {
      this.attempts = 0;
      this.setState("open");
      for (const key of this.listeners.keys()) this.sendSubscribe(key);
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.send({ action: "ping" }), this.options.pingMs);
    };
    socket.onmessage = (event) => this.receive(String(event.data));
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = null;
      if (this.stopped) return;
      this.setState("connecting");
      const delays = this.options.backoffMs;
      const base = delays[Math.min(this.attempts, delays.length - 1)];
      this.attempts += 1;
      // Jitter, so that dashboards dropped together do not come back together.
      const delay = base / 2 + (base / 2) * this.options.random();
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        if (!this.stopped) this.connect();
      }, delay);
    };
    socket.onerror = () => {
      // A close always follows; reconnecting happens there.
    };
  }

  private sendSubscribe(key: string): void {
    if (key === ALL) {
      this.send({ action: "subscribe" });
      return;
    }
    const last = this.seqs.get(key);
    this.send({ action: "subscribe", job_id: key, ...(last !== undefined ? { last_seq: last } : {}) });
  }

  private send(message: Record<string, unknown>): void {
    if (this.socket && this.socket.readyState === OPEN) this.socket.send(JSON.stringify(message));
  }

  private receive(text: string): void {
    let message: { type?: string; seq?: number; job?: Job; events?: { seq: number; job: Job }[] };
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === "job" && message.job && typeof message.seq === "number") {
      const held = this.seqs.get(message.job.job_id);
      if (held !== undefined && message.seq <= held) return; // older than what is shown
      this.apply(message.job, message.seq, false);
    } else if (message.type === "subscribed") {
      for (const event of message.events ?? []) this.apply(event.job, event.seq, true);
    }
  }

  private apply(job: Job, seq: number, snapshot: boolean): void {
    this.seqs.set(job.job_id, seq);
    const info = { seq, snapshot };
    for (const listener of this.listeners.get(job.job_id) ?? []) listener(job, info);
    for (const listener of this.listeners.get(ALL) ?? []) listener(job, info);
  }

  private setState(state: LiveState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    for (const listener of this.stateListeners) listener(state);
  }
}
