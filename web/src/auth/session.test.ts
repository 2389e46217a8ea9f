import { describe, expect, test } from "vitest";
import { CONFIG } from "../test/fakes";
import { apiKeySession, loadSession, saveSession, signInWithPassword } from "./session";

describe("sign-in", () => {
  test("an API key is taken bare or with its scheme", () => {
    expect(apiKeySession("  tlk_abc ").authorization).toBe("ApiKey tlk_abc");
    expect(apiKeySession("ApiKey tlk_abc").authorization).toBe("ApiKey tlk_abc");
    expect(() => apiKeySession(" ")).toThrow("Paste an API key.");
  });

  test("username and password go to Cognito's InitiateAuth; the ID token becomes a Bearer", async () => {
    let seen: { url: string; init: RequestInit } | null = null;
    const fetchImpl = (async (url: RequestInfo | URL, init: RequestInit = {}) => {
      seen = { url: String(url), init };
      return new Response(JSON.stringify({ AuthenticationResult: { IdToken: "id.jwt.token", ExpiresIn: 3600 } }));
    }) as typeof fetch;
    const session = await signInWithPassword(CONFIG.cognito, "ann", "pw", fetchImpl, () => 1000);
    expect(session).toEqual({ method: "password", authorization: "Bearer id.jwt.token", label: "ann", expiresAt: 3_601_000 });
    expect(seen!.url).toBe("https://cognito-idp.eu-west-1.amazonaws.com/");
    expect((seen!.init.headers as Record<string, string>)["X-Amz-Target"]).toBe(
      "AWSCognitoIdentityProviderService.InitiateAuth",
    );
    expect(JSON.parse(String(seen!.init.body))).toEqual({
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: "client123",
      AuthParameters: { USERNAME: "ann", PASSWORD: "pw" },
    });
  });

  test("Cognito's refusal is shown as it says it", async () => {
    const fetchImpl = (async () =>
      new Response(JSON.stringify({ __type: "NotAuthorizedException", message: "Incorrect username or password." }), {
        status: 400,
      })) as typeof fetch;
    await expect(signInWithPassword(CONFIG.cognito, "ann", "bad", fetchImpl)).rejects.toThrow(
      "Incorrect username or password.",
    );
  });

  test("an expired session is forgotten", () => {
    saveSession({ method: "password", authorization: "Bearer x", label: "ann", expiresAt: 5 });
    expect(loadSession(sessionStorage, () => 4)?.label).toBe("ann");
    expect(loadSession(sessionStorage, () => 6)).toBeNull();
    expect(loadSession(sessionStorage, () => 4)).toBeNull();
  });
});
