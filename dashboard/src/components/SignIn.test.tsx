import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { SignIn } from "./SignIn";
import { fakeServer } from "../test/fakeServer";

describe("sign-in", () => {
  it("shows the server's refusal for a wrong key", async () => {
    fakeServer({ "GET /ui/api/whoami": [401, { error_msg: "failed to check token" }] });
    const onSignedIn = vi.fn();
    render(<SignIn onSignedIn={onSignedIn} />);
    await userEvent.type(screen.getByTestId("admin-key"), "wrong-key");
    await userEvent.click(screen.getByRole("button", { name: /sign in/i }));
    expect(await screen.findByTestId("sign-in-error")).toHaveTextContent("401: failed to check token");
    expect(onSignedIn).not.toHaveBeenCalled();
  });

  it("signs in with the role the server reports", async () => {
    const calls = fakeServer({ "GET /ui/api/whoami": [200, { name: "ops", role: "viewer" }] });
    const onSignedIn = vi.fn();
    render(<SignIn onSignedIn={onSignedIn} />);
    await userEvent.type(screen.getByTestId("admin-key"), "viewer-key-0123456789");
    await userEvent.click(screen.getByRole("button", { name: /sign in/i }));
    await vi.waitFor(() => expect(onSignedIn).toHaveBeenCalledWith({ key: "viewer-key-0123456789", name: "ops", role: "viewer" }));
    expect(calls).toEqual(["GET /ui/api/whoami"]);
  });
});
