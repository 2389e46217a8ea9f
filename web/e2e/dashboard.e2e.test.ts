/**
 * The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against the local platform:
 * `make up` must be running; the endpoints and tenants come from .local/endpoints.json.
 *
 * A person signs in with username and password, sees validation errors next to the fields, submits a job and
 * watches its progress bar move to done through pushed updates (one page load, one GET of the job), opens a
 * failed task's error, then cancels another job. Screenshots go to test-artifacts/browser/; with
 * UPDATE_DOCS_SCREENSHOTS=1 the job detail page is also copied to docs/images/job-detail.png.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ARTIFACTS = join(ROOT, "test-artifacts", "browser");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
];

interface Endpoints {
  dashboard_url: string;
  api_url: string;
  tenants: Record<string, { headers: Record<string, string>; user: { username: string; password: string } }>;
}

function endpoints(): Endpoints {
  const file = join(ROOT, ".local", "endpoints.json");
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`make up\` first`);
  const data = JSON.parse(readFileSync(file, "utf8")) as Endpoints;
  if (!data.dashboard_url) throw new Error("endpoints.json has no dashboard_url: run `make up` again");
  return data;
}

let browser: Browser;
let page: Page;
const local = endpoints();
const stamp = Date.now().toString(36);

async function shot(name: string) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true, animations: "disabled" });
}

/** Waits until the page's (first) status badge starts with `status`: "RUNNING · cancelled…" is not CANCELLED. */
async function waitForStatus(status: string, timeout = 60_000) {
  await page.waitForFunction(
    (wanted) => document.querySelector("[data-testid=job-status]")?.textContent?.startsWith(wanted) ?? false,
    status,
    { timeout },
  );
}

async function submitThroughTheForm(spec: object): Promise<string> {
  await page.getByRole("link", { name: "Submit", exact: true }).click();
  await page.getByLabel("Job spec (JSON)").fill(JSON.stringify(spec, null, 2));
  await page.getByRole("button", { name: "Submit", exact: true }).click();
  await page.waitForURL(/#\/jobs\/[A-Za-z0-9_-]+$/);
  return decodeURIComponent(page.url().split("#/jobs/")[1]);
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  page = await browser.newPage({ viewport: { width: 1360, height: 960 } });
  page.setDefaultTimeout(20_000);
  page.on("pageerror", (error) => console.error("page error:", error.message));
});

afterAll(async () => {
  await browser?.close();
});

describe("the dashboard on the local platform", () => {
  test("a person signs in with username and password", async () => {
    const { username, password } = local.tenants.acme.user;
    await page.goto(local.dashboard_url);
    await shot("sign-in");
    await page.getByLabel("Username", { exact: true }).fill(username);
    await page.getByLabel("Password", { exact: true }).fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("heading", { name: "Jobs" }).waitFor()).resolves.toBeUndefined();
    await page.getByTestId("live-state").getByText("live").waitFor();
    expect(await page.getByTestId("live-state").textContent()).toContain("live");
  });

  test("validation errors are shown next to the fields they are about", async () => {
    await page.getByRole("link", { name: "Submit", exact: true }).click();
    const bad = { name: `bad-${stamp}`, max_concurrency: 0, tasks: [{ type: "echo" }, { type: "echo", max_attempts: 0 }] };
    await page.getByLabel("Job spec (JSON)").fill(JSON.stringify(bad, null, 2));
    await page.getByRole("button", { name: "Submit", exact: true }).click();
    const concurrency = page.locator('[data-field="max_concurrency"]');
    await concurrency.waitFor();
    expect(await concurrency.textContent()).toMatch(/greater than or equal to 1/);
    const attempts = page.locator('tr[data-task-index="1"] [data-field="tasks.1.max_attempts"]');
    expect(await attempts.textContent()).toMatch(/greater than or equal to 1/);
    await shot("submit-validation");

    // Task types are checked by the API after the schema: the message names the task's field too.
    await page.getByLabel("Job spec (JSON)").fill(JSON.stringify({ name: `bad-${stamp}`, tasks: [{ type: "nope" }] }));
    await page.getByRole("button", { name: "Submit", exact: true }).click();
    const unknown = page.locator('[data-field="tasks.0.type"]');
    await unknown.waitFor();
    expect(await unknown.textContent()).toMatch(/unknown task type 'nope'/);
  });

  test("a submitted job's progress bar moves to done through pushed updates, without a reload", async () => {
    const jobRequests: string[] = [];
    page.on("request", (request) => {
      if (request.method() === "GET" && /\/jobs\/[^/?]+(\?.*)?$/.test(new URL(request.url()).pathname)) {
        jobRequests.push(request.url());
      }
    });
    const spec = {
      name: `browser-${stamp}`,
      max_concurrency: 3,
      tolerated_failure_percentage: 10,
      metadata: { from: "browser test" },
      tasks: [
        ...Array.from({ length: 12 }, (_, i) => ({ type: "sleep", runtime: "lambda", payload: { seconds: 0.8, i } })),
        { type: "fail", runtime: "lambda", max_attempts: 1, payload: { message: "the disk is full (on purpose)" } },
      ],
    };
    const jobId = await submitThroughTheForm(spec);
    await page.getByRole("heading", { name: spec.name }).waitFor();
    await page.evaluate(() => ((window as unknown as { __samePage: string }).__samePage = "yes"));

    // Sample the bar while the job runs: the values come from pushed job updates only.
    const seen = new Set<number>();
    const deadline = Date.now() + 120_000;
    let status = "";
    let running = false;
    while (Date.now() < deadline) {
      const now = Number(await page.getByRole("progressbar").first().getAttribute("aria-valuenow"));
      seen.add(now);
      status = (await page.getByTestId("job-status").textContent()) ?? "";
      if (status.startsWith("SUCCEEDED") || status.startsWith("FAILED")) break;
      if (!running && now > 0) {
        running = true;
        await shot("job-detail-running");
      }
      await page.waitForTimeout(100);
    }
    expect(status).toMatch(/^SUCCEEDED/);
    expect(Number(await page.getByRole("progressbar").first().getAttribute("aria-valuenow"))).toBe(100);
    const intermediate = [...seen].filter((v) => v > 0 && v < 100);
    expect(intermediate.length, `progress values seen: ${[...seen].join(", ")}`).toBeGreaterThan(0);
    expect(await page.getByTestId("count-succeeded").textContent()).toBe("12");
    expect(await page.getByTestId("count-failed").textContent()).toBe("1");
    expect(await page.evaluate(() => (window as unknown as { __samePage?: string }).__samePage)).toBe("yes");
    // one GET of the job when its page opened; every later state was pushed
    expect(jobRequests.filter((url) => url.includes(jobId))).toHaveLength(1);
    // the task table catches up with the job (it is fetched again, at most every 1.5 s, while the job moves)
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("table[aria-label=Tasks] tr[data-task-id]")];
      return rows.length === 13 && rows.every((row) => /SUCCEEDED|FAILED/.test(row.textContent ?? ""));
    });
    await shot("job-detail");
    if (process.env.UPDATE_DOCS_SCREENSHOTS) {
      mkdirSync(join(ROOT, "docs", "images"), { recursive: true });
      copyFileSync(join(ARTIFACTS, "job-detail.png"), join(ROOT, "docs", "images", "job-detail.png"));
    }
  });

  test("a failed task's error opens from the task table", async () => {
    await page.getByRole("group", { name: "Filter tasks by status" }).getByRole("button", { name: "FAILED" }).click();
    const row = page.locator("tr[data-task-id]").first();
    await page.waitForFunction(() => {
      const rows = document.querySelectorAll("table[aria-label=Tasks] tr[data-task-id]");
      return rows.length === 1 && rows[0].textContent?.includes("FAILED");
    });
    await row.click();
    const error = page.getByTestId("task-error");
    await error.waitFor();
    expect(await error.textContent()).toContain("the disk is full (on purpose)");
    await shot("task-error");
  });

  test("another job is cancelled from its page", async () => {
    const spec = {
      name: `cancel-me-${stamp}`,
      max_concurrency: 2,
      tasks: Array.from({ length: 20 }, (_, i) => ({ type: "sleep", runtime: "lambda", payload: { seconds: 8, i } })),
    };
    await submitThroughTheForm(spec);
    await page.getByRole("heading", { name: spec.name }).waitFor();
    await waitForStatus("RUNNING");
    await page.getByRole("button", { name: "Cancel job" }).click();
    await page.getByRole("status").getByText(/Cancelling/).waitFor();
    await waitForStatus("CANCELLED", 90_000);
    expect(Number(await page.getByTestId("count-cancelled").textContent())).toBeGreaterThan(0);
    expect(await page.getByRole("button", { name: "Cancel job" }).isDisabled()).toBe(true);
    await shot("job-cancelled");
  });

  test("the jobs list filters by status and shows the new jobs", async () => {
    await page.getByRole("link", { name: "Jobs", exact: true }).click();
    await page.getByRole("group", { name: "Filter by status" }).getByRole("button", { name: "CANCELLED" }).click();
    await page.getByRole("link", { name: `cancel-me-${stamp}` }).waitFor();
    const statuses = await page.locator("table[aria-label=Jobs] [data-testid=status]").allTextContents();
    expect(statuses.every((s) => s.startsWith("CANCELLED"))).toBe(true);
    await page.getByRole("group", { name: "Filter by status" }).getByRole("button", { name: "All" }).click();
    await page.getByRole("link", { name: `browser-${stamp}` }).waitFor();
    await shot("jobs");
    await page.getByRole("link", { name: "Dead letters" }).click();
    await page.getByRole("heading", { name: "Dead letters" }).waitFor();
    await shot("dead-letters");
  });
});
