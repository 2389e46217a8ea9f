import { describe, expect, test, vi } from "vitest";
import { fakeFetch, makeJob } from "../test/fakes";
import { ApiClient, ApiError, parseProblems } from "./client";

describe("parseProblems", () => {
  test("422 messages name body fields; 400 messages name spec fields", () => {
    expect(
      parseProblems("body.name: String should have at least 1 character; body.tasks.1.type: Field required; oops"),
    ).toEqual({ fields: { name: "String should have at least 1 character", "tasks.1.type": "Field required" }, general: ["oops"] });
    expect(parseProblems("tasks[0].type: unknown task type 'nope'; known types: echo, fail")).toEqual({
      fields: { "tasks.0.type": "unknown task type 'nope'" },
      general: ["known types: echo, fail"],
    });
  });

  test("a message about the whole body is general", () => {
    expect(parseProblems("body: Field required").general).toEqual(["body: Field required"]);
  });
});

describe("ApiClient", () => {
  test("sends the session's Authorization and the query, and reads the page", async () => {
    const { impl, calls } = fakeFetch([["GET", /\/v1\/jobs$/, () => ({ body: { items: [makeJob()], next_token: "n2" } })]]);
    const api = new ApiClient("https://api.example/v1/", "ApiKey k", impl);
    const page = await api.listJobs({ status: "RUNNING", limit: 5, nextToken: "n1" });
    expect(page.next_token).toBe("n2");
    expect(calls[0].url.search).toBe("?status=RUNNING&limit=5&next_token=n1");
  });

  test("errors keep the API's code and message; a 401 signs out", async () => {
    const onUnauthorized = vi.fn();
    const { impl } = fakeFetch([
      ["POST", /jobs$/, () => ({ status: 422, body: { error: { code: "validation_error", message: "body.name: Field required" } } })],
      ["GET", /jobs\/x$/, () => ({ status: 401, body: { error: { code: "unauthorized", message: "Unauthorized" } } })],
    ]);
    const api = new ApiClient("https://api.example/v1/", "Bearer t", impl, onUnauthorized);
    const error = await api.submitJob({}).catch((e: ApiError) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("validation_error");
    expect((error as ApiError).problems.fields).toEqual({ name: "Field required" });
    await expect(api.getJob("x")).rejects.toMatchObject({ status: 401 });
    expect(onUnauthorized).toHaveBeenCalledOnce();
  });

  test("a network failure is an ApiError too", async () => {
    const api = new ApiClient("https://api.example/v1/", "ApiKey k", (() => Promise.reject(new Error("offline"))) as typeof fetch);
    await expect(api.deadLetters()).rejects.toMatchObject({ code: "network_error" });
  });
});
