// Drives the UI in Chromium (puppeteer-core) and prints what a user would see, as one JSON object,
// for tests/ui/test_ui_browser.sh to check:
//   node browser.cjs URL_WITH_TOKEN PROFILE_DIR SPEC_JSON
// SPEC: {"where": a --where query, "bad_where": one that is wrong, "sort": a metric name,
//        "run": a run id with metrics and a log, "xss": the id of the run named <script>,
//        "compare": [ids], "tag": a tag to add on the run's page}
// or {"live": the id of a running run}: its page follows the log until the run ends.
"use strict";
const {createRequire} = require("module");
const path = require("path");
const req = createRequire(path.join(process.env.NODE_PATH || ".", "x.js"));
const puppeteer = req("puppeteer-core");

const [url, profile, specText] = process.argv.slice(2);
const spec = JSON.parse(specText);
const out = {console_errors: [], expected_400: 0, dialogs: 0, steps: {}};
const origin = new URL(url).origin;
const metricAnswers = [];     // answers to the zoomed chart's requests (from=, to=)

// How many pixels of a canvas are about this color (lines are antialiased), and how many are
// not transparent at all.
async function canvasInk(page, sel, color) {
	return page.$$eval(sel, (canvases, color) => {
		const r = parseInt(color.slice(1, 3), 16), g = parseInt(color.slice(3, 5), 16), b = parseInt(color.slice(5, 7), 16);
		return canvases.map((c) => {
			const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
			let ink = 0, line = 0;
			for (let i = 0; i < d.length; i += 4) {
				if (d[i + 3] === 0) continue;
				ink++;
				if (Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) <= 60) line++;
			}
			return {ink, line};
		});
	}, color);
}

const rowIds = (page) => page.$$eval("table.runs tbody tr[data-id]", (trs) => trs.map((t) => t.dataset.id));
const settle = (page) => page.waitForFunction(() => document.getElementById("busy").hidden, {timeout: 10000});

// A running run's page: the log's tail, then what the stream adds, until the run ends.
async function followLive(page) {
	await page.goto(url, {waitUntil: "domcontentloaded"});
	await page.waitForSelector("table.runs tbody tr[data-id]", {timeout: 15000});
	await page.goto(origin + "/run/" + encodeURIComponent(spec.live), {waitUntil: "domcontentloaded"});
	await page.waitForFunction(() => /live/.test(document.querySelector("section.log p.muted")?.textContent || ""), {timeout: 10000});
	const first = await page.$eval("pre.log", (e) => e.textContent);
	const status0 = await page.$eval("dl.facts .status", (e) => e.textContent);
	const charted = () => page.$$eval("section.metrics .chart canvas", (cs) => cs.map((c) => c.closest(".chart").dataset.metric));
	await page.waitForSelector("section.metrics .chart canvas", {timeout: 10000}).catch(() => null);
	const chartsLive = await charted();
	await page.waitForFunction(() => /ended/.test(document.querySelector("section.log p.muted")?.textContent || ""), {timeout: 30000});
	await page.waitForFunction(() => document.querySelector("dl.facts .status")?.textContent !== "running", {timeout: 10000});
	out.steps.live = {
		status_before: status0,
		first_ticks: (first.match(/^tick \d+$/gm) || []).length,
		ticks: (await page.$eval("pre.log", (e) => e.textContent)).match(/^tick \d+$/gm) || [],
		status_after: await page.$eval("dl.facts .status", (e) => e.textContent),
		charts_live: chartsLive,
		charts_after: await page.waitForSelector("section.metrics .chart canvas", {timeout: 10000}).then(charted, () => []),
		info: await page.$eval("section.log p.muted", (e) => e.textContent),
	};
}

async function main() {
	const browser = await puppeteer.launch({
		executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
		headless: true,
		userDataDir: profile,
		args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--window-size=1366,768"],
		defaultViewport: {width: 1366, height: 768},
	});
	out.browser_pid = browser.process() ? browser.process().pid : null;
	try {
		const page = await browser.newPage();
		// The one error expected: the browser's own line for the 400 the wrong query gets.
		const badUrl = "/api/runs?where=" + new URLSearchParams({w: spec.bad_where}).toString().slice(2) + "&";
		page.on("console", (m) => {
			if (!["error", "warn", "warning"].includes(m.type())) return;
			const at = (m.location() && m.location().url) || "";
			if (/status of 400/.test(m.text()) && at.includes(badUrl)) out.expected_400++;
			else out.console_errors.push(m.type() + ": " + m.text() + (at ? " (" + at.replace(/token=[0-9a-f]+/, "token=…") + ")" : ""));
		});
		page.on("pageerror", (e) => out.console_errors.push("pageerror: " + e.message));
		page.on("requestfailed", (r) => { if (!r.url().includes("/log/stream")) out.console_errors.push("requestfailed: " + r.url()); });
		page.on("dialog", async (d) => { out.dialogs++; await d.dismiss(); });
		page.on("response", (r) => {
			if (r.status() >= 400 && !r.url().includes(badUrl))
				out.http_errors = (out.http_errors || []).concat(r.status() + " " + r.url().replace(/token=[0-9a-f]+/, "token=…"));
			if (r.url().includes("/metrics/") && r.url().includes("from=")) metricAnswers.push(r);
		});

		if (spec.live) await followLive(page);
		else await walk(page);
	} catch (e) {
		out.error = String(e && e.stack || e);
	} finally {
		await browser.close();
	}
	process.stdout.write(JSON.stringify(out, null, 1) + "\n");
}

// The runs page, a run, hostile text, compare.
async function walk(page) {
	// The runs page: the token URL sets the cookie, then the table.
	const t0 = Date.now();
	await page.goto(url, {waitUntil: "domcontentloaded"});
	await page.waitForSelector("table.runs tbody tr[data-id]", {timeout: 15000});
	out.steps.runs = {
		ms: Date.now() - t0,
		path: new URL(page.url()).pathname + new URL(page.url()).search.replace(/token=[0-9a-f]+/, "token=…"),
		rows: (await rowIds(page)).length,
		counts: await page.$eval(".counts", (e) => e.textContent),
		headers: await page.$$eval("table.runs thead th", (ths) => ths.map((t) => t.textContent.trim())),
	};

	// '/' focuses the search box; a --where query, typed, Enter.
	await page.focus("body");
	await page.keyboard.press("/");
	const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
	await page.keyboard.type(spec.where);
	await page.keyboard.press("Enter");
	await page.waitForFunction((w) => new URLSearchParams(location.search).get("where") === w, {timeout: 5000}, spec.where);
	await settle(page);
	out.steps.where = {
		slash_focuses: focused === "q",
		rows: (await rowIds(page)).length,
		next_enabled: await page.$eval(".pager button:last-child", (b) => !b.disabled),
		url_where: new URLSearchParams(new URL(page.url()).search).get("where"),
		error: await page.$eval("#q-err", (e) => e.textContent),
	};
	// A reload of the same URL shows the same table.
	await page.reload({waitUntil: "domcontentloaded"});
	await page.waitForSelector("table.runs tbody tr[data-id]", {timeout: 10000});
	await settle(page);
	out.steps.where.reload_rows = (await rowIds(page)).length;
	out.steps.where.reload_box = await page.$eval("#q", (e) => e.value);

	// A wrong query: the error line under the box.
	await page.click("#q", {clickCount: 3});
	await page.keyboard.type(spec.bad_where);
	await page.keyboard.press("Enter");
	await page.waitForFunction(() => document.getElementById("q-err").textContent !== "", {timeout: 5000});
	out.steps.bad_where = {error: await page.$eval("#q-err", (e) => e.textContent)};
	await page.click("#q", {clickCount: 3});
	await page.keyboard.press("Backspace");
	await page.keyboard.press("Enter");
	await page.waitForFunction(() => !new URLSearchParams(location.search).has("where"), {timeout: 5000});
	await settle(page);

	// Sort by a metric: its column (the chooser), then its header, twice.
	const col = "metrics." + spec.sort;
	const hasCol = await page.$(`table.runs th[data-key="${col}"]`);
	if (!hasCol) {
		await page.click(".chooser summary");
		await page.click(`.chooser input[value="${col}"]`);
		await page.waitForSelector(`table.runs th[data-key="${col}"]`, {timeout: 5000});
		await settle(page);
	}
	const colValues = () => page.$$eval(`table.runs td[data-col="${col}"]`, (tds) => tds.map((t) => t.textContent));
	await page.click(`table.runs th[data-key="${col}"] button`);
	await page.waitForFunction((c) => new URLSearchParams(location.search).get("sort") === c, {timeout: 5000}, col);
	await settle(page);
	const asc = await colValues();
	await page.click(`table.runs th[data-key="${col}"] button`);
	await page.waitForFunction((c) => new URLSearchParams(location.search).get("sort") === "-" + c, {timeout: 5000}, col);
	await settle(page);
	const desc = await colValues();
	out.steps.sort = {asc, desc, aria: await page.$eval(`table.runs th[data-key="${col}"]`, (t) => t.getAttribute("aria-sort"))};

	// Paging: next, then back to the first page.
	const first = await rowIds(page);
	await page.click(".pager button:last-child");
	await page.waitForFunction((f) => document.querySelector("table.runs tbody tr[data-id]")?.dataset.id !== f, {timeout: 5000}, first[0]);
	await settle(page);
	const second = await rowIds(page);
	await page.click(".pager button:first-child");
	await page.waitForFunction((f) => document.querySelector("table.runs tbody tr[data-id]")?.dataset.id === f, {timeout: 5000}, first[0]);
	out.steps.paging = {first: first.length, second: second.length, overlap: second.filter((i) => first.includes(i)).length};

	// Open a run from the table by its link (the client-side route).
	await page.goto(origin + "/?where=" + encodeURIComponent("id = " + spec.run), {waitUntil: "domcontentloaded"});
	await page.waitForSelector(`table.runs tbody tr[data-id="${spec.run}"] a`, {timeout: 10000});
	await page.click(`table.runs tbody tr[data-id="${spec.run}"] a`);
	await page.waitForSelector(".chart[data-drawn] canvas", {timeout: 10000});
	await page.waitForFunction(() => !/^\s*$/.test(document.querySelector("pre.log")?.textContent || ""), {timeout: 10000});
	await settle(page);
	await new Promise((r) => setTimeout(r, 300));
	out.steps.run = {
		path: new URL(page.url()).pathname,
		h1: await page.$eval("h1", (e) => e.textContent),
		charts: await page.$$eval(".chart", (cs) => cs.map((c) => c.dataset.metric)),
		ink: await canvasInk(page, ".chart[data-drawn] canvas", "#1f77b4"),
		log: await page.$eval("pre.log", (e) => e.textContent),
		params: await page.$$eval("table.params tr", (trs) => trs.map((t) => [t.cells[0]?.textContent ?? t.querySelector("th").textContent, t.querySelector("td").textContent])),
		sections: await page.$$eval("section.card h2", (hs) => hs.map((h) => h.textContent)),
	};
	// Its outputs: listed, each link gives the file as an attachment.
	out.steps.run.outputs = await page.$$eval("section.card a[download]", (as) => Promise.all(as.map(async (a) => {
		const r = await fetch(a.href);
		return {name: a.textContent, status: r.status, disposition: r.headers.get("content-disposition"), body: await r.text()};
	})));

	// Zoom: drag across the middle tenth of the first chart; the server is asked for that range.
	const over = await page.$(".chart[data-drawn] .u-over");
	const box = await over.boundingBox();
	await page.mouse.move(box.x + box.width * 0.45, box.y + box.height / 2);
	await page.mouse.down();
	await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, {steps: 5});
	await page.mouse.up();
	const t1 = Date.now();
	while (!metricAnswers.length && Date.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 50));
	if (metricAnswers.length) {
		const z = await metricAnswers[0].json();
		const q = new URL(metricAnswers[0].url()).searchParams;
		out.steps.zoom = {from: Number(q.get("from")), to: Number(q.get("to")), downsampled: z.downsampled, points: z.steps.length,
			all_steps: z.steps.length === Number(q.get("to")) - Number(q.get("from")) + 1 ||
				z.steps.every((s, i) => i === 0 || s === z.steps[i - 1] + 1)};
	} else out.steps.zoom = {from: null};

	// A tag added on the page (the annotations route).
	await page.type(".annot form input", spec.tag);
	await page.keyboard.press("Enter");
	await page.waitForFunction((t) => [...document.querySelectorAll(".annot li.tag")].some((l) => l.firstChild.textContent === t),
		{timeout: 5000}, spec.tag);
	out.steps.run.tags = await page.$$eval(".annot li.tag", (ls) => ls.map((l) => l.firstChild.textContent));

	// The run named <script>: its name as text, nothing run.
	await page.goto(origin + "/run/" + encodeURIComponent(spec.xss), {waitUntil: "domcontentloaded"});
	await page.waitForSelector("h1.run-name", {timeout: 10000});
	await settle(page);
	out.steps.xss = {
		h1: await page.$eval("h1.run-name", (e) => e.textContent),
		scripts: await page.$$eval("script", (s) => s.map((x) => x.getAttribute("src"))),
		injected: await page.evaluate(() => document.querySelectorAll("main script, main img, main iframe").length),
	};
	await page.goto(origin + "/?where=" + encodeURIComponent("id = " + spec.xss), {waitUntil: "domcontentloaded"});
	await page.waitForSelector("table.runs tbody tr[data-id]", {timeout: 10000});
	out.steps.xss.row_name = await page.$eval("table.runs tbody td.name", (e) => e.textContent);

	// Compare: picked on the runs page, then the compare button.
	await page.goto(origin + "/?where=" + encodeURIComponent(spec.compare.map((i) => "id = " + i).join(" or ")), {waitUntil: "domcontentloaded"});
	await page.waitForSelector("table.runs tbody tr[data-id]", {timeout: 10000});
	await settle(page);
	for (const id of spec.compare) await page.click(`table.runs tbody tr[data-id="${id}"] input.pick`);
	await page.click("button.primary");
	await page.waitForSelector("table.envdiff", {timeout: 10000});
	await page.waitForFunction((n) => document.querySelectorAll(".chart[data-drawn]").length >= n, {timeout: 10000}, 1);
	await settle(page);
	out.steps.compare = {
		path: decodeURIComponent(new URL(page.url()).pathname + new URL(page.url()).search),
		rows: await page.$$eval("table.compare tbody tr", (t) => t.length),
		env: await page.$$eval("table.envdiff tbody tr", (trs) => trs.map((t) => ({
			component: t.querySelector("th").textContent, differs: t.classList.contains("differs"),
			changes: [...t.querySelectorAll("li")].map((l) => l.textContent)}))),
		diff_params: await page.$$eval("table.compare thead th.diff", (t) => t.map((x) => x.textContent)),
		cells: await page.$$eval("table.compare tbody tr", (trs) => trs.map((t) => [...t.querySelectorAll("td.diff")].map((c) => c.textContent))),
		charts: await page.$$eval(".chart[data-drawn]", (c) => c.map((x) => x.dataset.metric)),
		legend: await page.$$eval(".chart[data-drawn]:first-child .u-legend .u-series .u-label", (l) => l.map((x) => x.textContent)),
	};
	out.steps.compare.ink = await canvasInk(page, ".chart[data-drawn] canvas", "#ff7f0e");
}

main();
