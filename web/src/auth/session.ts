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

function cognitoEndpoint(cognito: RuntimeConfig["cognito"]): string {
  return cognito.endpoint || `https://cognito-idp.${cognito.region}.amazonaws.com/`;
}

/** Cognito's InitiateAuth JSON API with USER_PASSWORD_AUTH; the ID token is what the API accepts. */
export async function signInWithPassword(
  cognito: RuntimeConfig["cognito"],
  username: string,
  password: string,
  fetchImpl: typeof fetch = (...args) => fetch(...args),
  now: () => number = Date.now,
): Promise<Session> {
  if (!username.trim() || !password) throw new SignInError("Enter your username and password.");
  let response: Response;
  try {
    response = await fetchImpl(cognitoEndpoint(cognito), {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
      },
      body: JSON.stringify({
        AuthFlow: "USER_PASSWORD_AUTH",
        ClientId: cognito.client_id,
        AuthParameters: { USERNAME: username.trim(), PASSWORD: password },
      }),
    });
  } catch (error) {
    throw new SignInError(`The sign-in service did not answer: ${(error as Error).message}`);
  }
  const data = (await response.json().catch(() => ({}))) as {
    message?: string;
    __type?: string;
    ChallengeName?: string;
    AuthenticationResult?: { IdToken?: string; ExpiresIn?: number };
  };
  if (!response.ok) {
    throw new SignInError(data.message || `Sign-in failed (${data.__type ?? response.status}).`);
  }
  if (data.ChallengeName) {
    throw new SignInError(`Sign-in needs a step this page does not offer yet: ${data.ChallengeName}.`);
  }
  const token = data.AuthenticationResult?.IdToken;
  if (!token) throw new SignInError("The sign-in service returned no ID token.");
  const expiresIn = data.AuthenticationResult?.ExpiresIn ?? 3600;
  return { method: "password", authorization: `Bearer ${token}`, label: username.trim(), expiresAt: now() + expiresIn * 1000 };
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
