import { describe, expect, test } from "vitest";
import { CONFIG, FakeSrpUser } from "../test/fakes";
import { apiKeySession, cognitoUser, loadSession, saveSession, signInWithPassword } from "./session";

describe("sign-in", () => {
  test("an API key is taken bare or with its scheme", () => {
    expect(apiKeySession("  tlk_abc ").authorization).toBe("ApiKey tlk_abc");
    expect(apiKeySession("ApiKey tlk_abc").authorization).toBe("ApiKey tlk_abc");
    expect(() => apiKeySession(" ")).toThrow("Paste an API key.");
  });

  test("username and password sign in with SRP; the ID token becomes a Bearer until it expires", async () => {
    const user = new FakeSrpUser({ password: "pw", token: "id.jwt.token", expiresAt: 3_601_000 });
    const made: string[] = [];
    const step = await signInWithPassword(CONFIG.cognito, " ann ", "pw", (_cognito, name) => {
      made.push(name);
      return user;
    });
    expect(made).toEqual(["ann"]);
    expect(step).toEqual({
      kind: "signed-in",
      session: { method: "password", authorization: "Bearer id.jwt.token", label: "ann", expiresAt: 3_601_000 },
    });
  });

  test("Cognito's refusal is shown as it says it", async () => {
    const user = new FakeSrpUser({ password: "pw" });
    await expect(signInWithPassword(CONFIG.cognito, "ann", "bad", () => user)).rejects.toThrow(
      "Incorrect username or password.",
    );
  });

  test("an account with TOTP answers the code of its authenticator app", async () => {
    const user = new FakeSrpUser({ password: "pw", mfa: "TOTP", code: "123456", token: "after.mfa" });
    const step = await signInWithPassword(CONFIG.cognito, "ann", "pw", () => user);
    if (step.kind !== "mfa") throw new Error(`expected an MFA step, got ${step.kind}`);
    expect(step.factor).toBe("TOTP");
    await expect(step.answer("12345")).rejects.toThrow("Enter the 6-digit code.");
    await expect(step.answer("654321")).rejects.toThrow("Invalid code received for user");
    const done = await step.answer(" 123 456 ");
    expect(done.kind === "signed-in" && done.session.authorization).toBe("Bearer after.mfa");
    expect(user.codes).toEqual([
      { code: "654321", mfaType: "SOFTWARE_TOKEN_MFA" },
      { code: "123456", mfaType: "SOFTWARE_TOKEN_MFA" },
    ]);
  });

  test("an SMS second factor is answered as SMS", async () => {
    const user = new FakeSrpUser({ password: "pw", mfa: "SMS", code: "000111" });
    const step = await signInWithPassword(CONFIG.cognito, "ann", "pw", () => user);
    expect(step.kind === "mfa" && step.factor).toBe("SMS");
    if (step.kind === "mfa") await step.answer("000111");
    expect(user.codes).toEqual([{ code: "000111", mfaType: null }]);
  });

  test("a pool without its id in config.json cannot sign in with SRP", () => {
    expect(() => cognitoUser({ region: "eu-west-1", client_id: "c" }, "ann")).toThrow("cognito.user_pool_id");
  });

  test("an expired session is forgotten", () => {
    saveSession({ method: "password", authorization: "Bearer x", label: "ann", expiresAt: 5 });
    expect(loadSession(sessionStorage, () => 4)?.label).toBe("ann");
    expect(loadSession(sessionStorage, () => 6)).toBeNull();
    expect(loadSession(sessionStorage, () => 4)).toBeNull();
  });
});
