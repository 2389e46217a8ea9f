import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { expect, test, vi } from "vitest";
import { CONFIG, FakeSrpUser } from "../test/fakes";
import { SignIn } from "./SignIn";

test("people sign in with username and password; a refusal is shown on the form", async () => {
  const onSignedIn = vi.fn();
  const user = new FakeSrpUser({ password: "right", token: "tok" });
  render(<SignIn config={CONFIG} onSignedIn={onSignedIn} userFactory={() => user} />);
  await userEvent.type(screen.getByLabelText("Username"), "ann");
  await userEvent.type(screen.getByLabelText("Password"), "wrong");
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("Incorrect username or password.");
  expect(onSignedIn).not.toHaveBeenCalled();

  await userEvent.clear(screen.getByLabelText("Password"));
  await userEvent.type(screen.getByLabelText("Password"), "right");
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
  await vi.waitFor(() => expect(onSignedIn).toHaveBeenCalledOnce());
  expect(onSignedIn.mock.calls[0][0]).toMatchObject({ method: "password", authorization: "Bearer tok", label: "ann" });
});

test("a person with MFA is asked for the authenticator's code, and a wrong one is shown", async () => {
  const onSignedIn = vi.fn();
  const user = new FakeSrpUser({ password: "right", mfa: "TOTP", code: "246810", token: "mfa-tok" });
  render(<SignIn config={CONFIG} onSignedIn={onSignedIn} userFactory={() => user} />);
  await userEvent.type(screen.getByLabelText("Username"), "ann");
  await userEvent.type(screen.getByLabelText("Password"), "right");
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
  await userEvent.type(await screen.findByLabelText("Code"), "111111");
  await userEvent.click(screen.getByRole("button", { name: "Verify" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("Invalid code received for user");
  expect(onSignedIn).not.toHaveBeenCalled();

  await userEvent.clear(screen.getByLabelText("Code"));
  await userEvent.type(screen.getByLabelText("Code"), "246810");
  await userEvent.click(screen.getByRole("button", { name: "Verify" }));
  await vi.waitFor(() => expect(onSignedIn).toHaveBeenCalledOnce());
  expect(onSignedIn.mock.calls[0][0]).toMatchObject({ authorization: "Bearer mfa-tok" });
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
