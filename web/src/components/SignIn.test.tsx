import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { expect, test, vi } from "vitest";
import { CONFIG } from "../test/fakes";
import { SignIn } from "./SignIn";

test("people sign in with username and password; a refusal is shown on the form", async () => {
  const onSignedIn = vi.fn();
  let answer: Response = new Response(JSON.stringify({ message: "Incorrect username or password." }), { status: 400 });
  const fetchImpl = vi.fn(async () => answer) as unknown as typeof fetch;
  render(<SignIn config={CONFIG} onSignedIn={onSignedIn} fetchImpl={fetchImpl} />);
  await userEvent.type(screen.getByLabelText("Username"), "ann");
  await userEvent.type(screen.getByLabelText("Password"), "wrong");
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("Incorrect username or password.");
  expect(onSignedIn).not.toHaveBeenCalled();

  answer = new Response(JSON.stringify({ AuthenticationResult: { IdToken: "tok", ExpiresIn: 60 } }));
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
  await vi.waitFor(() => expect(onSignedIn).toHaveBeenCalledOnce());
  expect(onSignedIn.mock.calls[0][0]).toMatchObject({ method: "password", authorization: "Bearer tok", label: "ann" });
});

test("machines (and the local platform) sign in with an API key", async () => {
  const onSignedIn = vi.fn();
  render(<SignIn config={CONFIG} onSignedIn={onSignedIn} />);
  await userEvent.click(screen.getByRole("button", { name: "Use API key" }));
  expect(screen.getByRole("alert")).toHaveTextContent("Paste an API key.");
  await userEvent.type(screen.getByLabelText("API key"), "tlk_secret");
  await userEvent.click(screen.getByRole("button", { name: "Use API key" }));
  expect(onSignedIn).toHaveBeenCalledWith(expect.objectContaining({ authorization: "ApiKey tlk_secret" }));
});
