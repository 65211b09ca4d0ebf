// notebook.cjs — the floe kernel in a real browser: Debian's classic Jupyter
// Notebook server, driven by headless chromium through puppeteer-core.
// Opens NOTEBOOK_URL (a notebook whose kernelspec is floe), runs all cells
// from the Cell menu, reads the rendered outputs, runs `while True: pass`
// and interrupts it from the Kernel menu, and saves a screenshot.
// Prints one JSON line: {"kernel", "outputs": [[text...] per cell], "interrupt"}.
// usage: NODE_PATH=<dir with puppeteer-core> node notebook.cjs URL SCREENSHOT
const puppeteer = require("puppeteer-core");

const [url, shot] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitIdle(page, timeout) {
  await page.waitForFunction(
    () => window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel &&
      Jupyter.notebook.kernel.is_connected() && document.querySelector("#kernel_indicator_icon.kernel_idle_icon"),
    { timeout, polling: 100 });
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: "new",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions", "--window-size=1200,1400"],
  });
  const result = {};
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 1400 });
    await page.goto(url, { waitUntil: "networkidle2", timeout: 60000 });
    await waitIdle(page, 60000);
    result.kernel = await page.evaluate(() => Jupyter.notebook.kernel.name);
    // Cell > Run All, as a user would
    await page.click("#celllink");
    await page.click("#run_all_cells");
    await page.waitForFunction(() => {
      const cells = Jupyter.notebook.get_cells().filter((c) => c.cell_type === "code");
      return cells.length && cells.every((c) => c.input_prompt_number !== "*" && c.input_prompt_number != null);
    }, { timeout: 60000, polling: 200 });
    await waitIdle(page, 30000);
    result.outputs = await page.evaluate(() =>
      Array.from(document.querySelectorAll(".cell.code_cell")).map((cell) =>
        Array.from(cell.querySelectorAll(".output_subarea")).map((o) => o.innerText.trim())));
    result.prompts = await page.evaluate(() =>
      Jupyter.notebook.get_cells().filter((c) => c.cell_type === "code").map((c) => c.input_prompt_number));
    // a cell that never ends, interrupted from the Kernel menu
    const cell = await page.evaluate(() => {
      const c = Jupyter.notebook.insert_cell_at_bottom("code");
      c.set_text("while True: pass");
      Jupyter.notebook.select(Jupyter.notebook.ncells() - 1);
      c.execute();
      return Jupyter.notebook.ncells() - 1;
    });
    await page.waitForSelector("#kernel_indicator_icon.kernel_busy_icon", { timeout: 30000 });
    await sleep(1000);
    const t0 = Date.now();
    await page.click("#kernellink");
    await page.click("#int_kernel");
    await waitIdle(page, 30000);
    result.interrupt_ms = Date.now() - t0;
    result.interrupt = await page.evaluate((i) =>
      Array.from(document.querySelectorAll(".cell.code_cell"))[i].querySelector(".output_subarea").innerText, cell);
    await page.screenshot({ path: shot, fullPage: true });
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})().catch((e) => { console.error(e); process.exit(1); });
