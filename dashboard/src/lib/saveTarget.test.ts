import { describe, expect, it } from "vitest";
import sslSchema from "../test/fixtures/schema-ssl.json";
import { documentToValidate, saveRequest } from "./saveTarget";
import { resourceByPath, CREDENTIALS } from "./resources";
import { validateDocument } from "./validate";

const ssls = resourceByPath("ssls")!;
const CERT = "-----BEGIN CERTIFICATE-----\n" + "A".repeat(200) + "\n-----END CERTIFICATE-----\n";

describe("saving a certificate without its private key", () => {
  const original = { id: "shop", snis: ["shop.example.com"], cert: CERT, labels: { env: "dev" } };
  const edited = { id: "shop", snis: ["shop.example.com", "www.example.com"], cert: CERT };

  it("is valid: the stored key stands in for the empty one", () => {
    expect(validateDocument(sslSchema, edited).length).toBeGreaterThan(0);
    expect(validateDocument(sslSchema, documentToValidate(ssls, false, edited))).toEqual([]);
    // A new certificate needs its key.
    expect(documentToValidate(ssls, true, edited)).toBe(edited);
  });

  it("is a merge patch, so the stored key stays and removals are sent as null", () => {
    const req = saveRequest(ssls, "ssls", "shop", false, edited, original);
    expect(req).toEqual({ method: "PATCH", path: "ssls/shop", body: { snis: ["shop.example.com", "www.example.com"], labels: null } });
  });

  it("is a PUT of the whole document when a new key is given", () => {
    const req = saveRequest(ssls, "ssls", "shop", false, { ...edited, key: "K" }, original);
    expect(req.method).toBe("PUT");
    expect(req.body).toEqual({ ...edited, key: "K" });
  });
});

describe("ids", () => {
  it("only kinds the Admin API numbers itself may be created without one", () => {
    expect(resourceByPath("routes")!.postAllowed).toBe(true);
    expect(resourceByPath("consumer_groups")!.postAllowed).toBe(false);
    expect(resourceByPath("global_rules")!.postAllowed).toBe(false);
    expect(CREDENTIALS.postAllowed).toBe(false);
  });
});
