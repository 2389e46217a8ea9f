import {
  AuthenticationDetails,
  CognitoUser,
  CognitoUserPool,
  type IAuthenticationCallback,
} from "amazon-cognito-identity-js";
import type { RuntimeConfig } from "../config";

/** Who is signed in: the Authorization header the API (and the WebSocket's `token`) takes. */
export interface Session {
  method: "password" | "api_key";
  authorization: string;
  label: string;
  /** Epoch milliseconds after which an ID token is no longer accepted. */
  expiresAt?: number;
}

const STORAGE_KEY = "tasklane.session";

export class SignInError extends Error {}

export function apiKeySession(key: string): Session {
  const trimmed = key.trim();
  const secret = trimmed.toLowerCase().startsWith("apikey ") ? trimmed.slice(7).trim() : trimmed;
  if (!secret) throw new SignInError("Paste an API key.");
  if (/\s/.test(secret)) throw new SignInError("An API key has no spaces.");
  return { method: "api_key", authorization: `ApiKey ${secret}`, label: `API key ${secret.slice(0, 8)}…` };
}

/** The Cognito calls sign-in makes, as amazon-cognito-identity-js's CognitoUser offers them (tests pass a fake). */
export interface SrpUser {
  authenticateUser(details: AuthenticationDetails, callbacks: IAuthenticationCallback): void;
  sendMFACode(code: string, callbacks: IAuthenticationCallback, mfaType?: string | null): void;
}

export type UserFactory = (cognito: RuntimeConfig["cognito"], username: string) => SrpUser;

/** What a sign-in asks next: nothing (signed in), or the code of the user's second factor. */
export type SignInStep =
  | { kind: "signed-in"; session: Session }
  | { kind: "mfa"; factor: "TOTP" | "SMS"; answer: (code: string) => Promise<SignInStep> };

// Tokens stay in this page's memory until the session is saved (sessionStorage): never in localStorage.
class MemoryStorage {
  private items = new Map<string, string>();
  setItem(key: string, value: string) { this.items.set(key, value); }
  getItem(key: string) { return this.items.get(key) ?? null; }
  removeItem(key: string) { this.items.delete(key); }
  clear() { this.items.clear(); }
}

export const cognitoUser: UserFactory = (cognito, username) => {
  if (!cognito.user_pool_id) throw new SignInError("config.json has no cognito.user_pool_id.");
  const storage = new MemoryStorage();
  const pool = new CognitoUserPool({
    UserPoolId: cognito.user_pool_id,
    ClientId: cognito.client_id,
    endpoint: cognito.endpoint || undefined,
    Storage: storage,
  });
  return new CognitoUser({ Username: username, Pool: pool, Storage: storage });
};

/**
 * Sign in with Cognito's SRP flow (USER_SRP_AUTH): the password never leaves the page, only a proof of it.
 * A user with MFA is then asked for the code of its authenticator app (or SMS); the ID token is what the API
 * accepts, as a Bearer.
 */
export async function signInWithPassword(
  cognito: RuntimeConfig["cognito"],
  username: string,
  password: string,
  userFactory: UserFactory = cognitoUser,
): Promise<SignInStep> {
  const name = username.trim();
  if (!name || !password) throw new SignInError("Enter your username and password.");
  const user = userFactory(cognito, name);
  // Every answer of Cognito, to the password proof or to an MFA code, settles one step.
  const settle = (resolve: (step: SignInStep) => void, reject: (error: Error) => void): IAuthenticationCallback => ({
    onSuccess: (result) => {
      const token = result.getIdToken();
      const session: Session = {
        method: "password",
        authorization: `Bearer ${token.getJwtToken()}`,
        label: name,
        expiresAt: token.getExpiration() * 1000,
      };
      resolve({ kind: "signed-in", session });
    },
    onFailure: (error: { message?: string; code?: string }) =>
      reject(new SignInError(error?.message || `Sign-in failed (${error?.code ?? "unknown error"}).`)),
    totpRequired: () => resolve(mfaStep("TOTP")),
    mfaRequired: () => resolve(mfaStep("SMS")),
    newPasswordRequired: () =>
      reject(new SignInError("This account must set a new password first: ask an administrator to set it.")),
    mfaSetup: () => reject(new SignInError("This account must set up MFA first: ask an administrator.")),
    selectMFAType: () => reject(new SignInError("This account has several MFA methods: ask an administrator.")),
    customChallenge: () => reject(new SignInError("Sign-in needs a step this page does not offer.")),
  });
  const mfaStep = (factor: "TOTP" | "SMS"): SignInStep => ({
    kind: "mfa",
    factor,
    answer: (code: string) => {
      const digits = code.replace(/\s/g, "");
      if (!/^\d{6}$/.test(digits)) return Promise.reject(new SignInError("Enter the 6-digit code."));
      return new Promise<SignInStep>((resolve, reject) =>
        user.sendMFACode(digits, settle(resolve, reject), factor === "TOTP" ? "SOFTWARE_TOKEN_MFA" : null),
      );
    },
  });
  return new Promise<SignInStep>((resolve, reject) =>
    user.authenticateUser(new AuthenticationDetails({ Username: name, Password: password }), settle(resolve, reject)),
  );
}

export function saveSession(session: Session, storage: Storage = sessionStorage): void {
  storage.setItem(STORAGE_KEY, JSON.stringify(session));
}

export function loadSession(storage: Storage = sessionStorage, now: () => number = Date.now): Session | null {
  try {
    const session = JSON.parse(storage.getItem(STORAGE_KEY) ?? "null") as Session | null;
    if (!session?.authorization) return null;
    if (session.expiresAt && session.expiresAt <= now()) {
      storage.removeItem(STORAGE_KEY);
      return null;
    }
    return session;
  } catch {
    return null;
  }
}

export function clearSession(storage: Storage = sessionStorage): void {
  storage.removeItem(STORAGE_KEY);
}
