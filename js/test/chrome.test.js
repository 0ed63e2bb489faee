// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { header } from "../src/ui/chrome.js";

describe("error banner", () => {
  it("gives the explanation in words, never the internal kind", () => {
    const el = header({
      title: "Net",
      error: { type: "RuntimeError", message: "element 0 of tensors does not require grad", where: "/a/b.py:3", kind: "no_grad_root", explanation: "The loss has no grad_fn: nothing it was computed from is tracked by autograd." },
    });
    const banner = el.querySelector(".gv-error");
    expect(banner.getAttribute("role")).toBe("alert");
    expect(banner.textContent).toContain("The loss has no grad_fn");
    expect(banner.textContent).toContain("/a/b.py:3");
    expect(banner.textContent).not.toContain("no_grad_root");
  });
});
