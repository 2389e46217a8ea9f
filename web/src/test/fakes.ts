import type { AuthenticationDetails, CognitoUserSession, IAuthenticationCallback } from "amazon-cognito-identity-js";
import type { SrpUser } from "../auth/session";
import type { Job, Task } from "../api/types";
import type { SocketFactory } from "../live/LiveClient";

export function makeJob(overrides: Partial<Job> & { done?: number } = {}): Job {
  const { done = 0, ...rest } = overrides;
  return {
    job_id: "job-1",
    name: "nightly",
    status: "RUNNING",
    created_at: "2026-01-01T10:00:00.000Z",
    updated_at: `2026-01-01T10:${String(Math.floor(done / 60)).padStart(2, "0")}:${String(done % 60).padStart(2, "0")}.000Z`,
    counts: { total: 100, pending: 100 - done, running: 0, succeeded: done, failed: 0, cancelled: 0 },
    metadata: {},
    run: 0,
    stopping: null,
    ...rest,
  };
}

export function makeTask(index: number, overrides: Partial<Task> = {}): Task {
  return {
    task_id: `t${String(index).padStart(8, "0")}`,
    index,
    type: "echo",
    runtime: "lambda",
    status: "SUCCEEDED",
    attempts: 1,
    result: { i: index },
    error: null,
    progress: null,
    progress_message: null,
    timeout_seconds: 60,
    ...overrides,
  };
}

/** A WebSocket the test drives: it records what the client sends and delivers what the test pushes. */
export class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  static factory: SocketFactory = (url) => new FakeSocket(url);

  static last(): FakeSocket {
    return FakeSocket.all[FakeSocket.all.length - 1];
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }

  push(message: unknown): void {
    this.onmessage?.({ data: JSON.stringify(message) } as MessageEvent);
  }

  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006 } as CloseEvent);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }

  close(): void {
    this.readyState = 3;
  }
}

type Handler = (url: URL, init: RequestInit) => { status?: number; body?: unknown } | undefined;

/** fetch answering from a list of (method, path pattern, handler); every call is recorded. */
export function fakeFetch(routes: [string, RegExp, Handler][]) {
  const calls: { method: string; url: URL; body: unknown }[] = [];
  const impl = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const method = init.method ?? "GET";
    calls.push({ method, url, body: init.body ? JSON.parse(String(init.body)) : undefined });
    for (const [m, pattern, handler] of routes) {
      if (m === method && pattern.test(url.pathname)) {
        const answer = handler(url, init) ?? {};
        return new Response(answer.body === undefined ? "" : JSON.stringify(answer.body), {
          status: answer.status ?? 200,
          headers: { "content-type": "application/json" },
        });
      }
    }
    return new Response(JSON.stringify({ error: { code: "not_found", message: `no route ${method} ${url.pathname}` } }), {
      status: 404,
    });
  }) as typeof fetch;
  return { impl, calls };
}

export const CONFIG = {
  api_url: "https://api.example/v1/",
  ws_url: "wss://ws.example/live",
  cognito: { region: "eu-west-1", client_id: "client123" },
};

/** Cognito's user as sign-in sees it: checks the password proof, then asks for an MFA code when it has one. */
export class FakeSrpUser implements SrpUser {
  readonly passwords: string[] = [];
  readonly codes: Array<{ code: string; mfaType: string | null | undefined }> = [];

  constructor(
    private readonly account: { password: string; mfa?: "TOTP" | "SMS"; code?: string; token?: string; expiresAt?: number },
  ) {}

  private signedIn(callbacks: IAuthenticationCallback) {
    const token = this.account.token ?? "id.jwt.token";
    const expiration = (this.account.expiresAt ?? 3_601_000) / 1000;
    callbacks.onSuccess({
      getIdToken: () => ({ getJwtToken: () => token, getExpiration: () => expiration }),
    } as unknown as CognitoUserSession);
  }

  authenticateUser(details: AuthenticationDetails, callbacks: IAuthenticationCallback): void {
    this.passwords.push(details.getPassword());
    if (details.getPassword() !== this.account.password) {
      callbacks.onFailure({ code: "NotAuthorizedException", message: "Incorrect username or password." });
    } else if (this.account.mfa === "TOTP") {
      callbacks.totpRequired?.("SOFTWARE_TOKEN_MFA", {});
    } else if (this.account.mfa === "SMS") {
      callbacks.mfaRequired?.("SMS_MFA", {});
    } else {
      this.signedIn(callbacks);
    }
  }

  sendMFACode(code: string, callbacks: IAuthenticationCallback, mfaType?: string | null): void {
    this.codes.push({ code, mfaType });
    if (code === this.account.code) this.signedIn(callbacks);
    else callbacks.onFailure({ code: "CodeMismatchException", message: "Invalid code received for user" });
  }
}
