// The UI as a user gets it, timed in Chromium (puppeteer-core, Debian's chromium, headless):
//   NODE_PATH=build/npm/node_modules node bench/ui_browser.cjs URL_WITH_TOKEN [IDS] [ROUNDS]
// (a) runs page: from navigation until the table's rows are drawn and the search box takes
//     input (a key typed shows in it);
// (b) compare of IDS (comma-separated run ids, e.g. 20 runs with 5 metrics each): from navigation
//     until every metric's chart is drawn.
// Each is timed ROUNDS times (default 5) after one warm-up; prints JSON with the times in ms.
"use strict";
const {createRequire} = require("module");
const fs = require("fs");
const os = require("os");
const path = require("path");
const req = createRequire(path.join(process.env.NODE_PATH || path.join(__dirname, "../build/npm/node_modules"), "x.js"));
const puppeteer = req("puppeteer-core");

const [url, idsArg, roundsArg] = process.argv.slice(2);
if (!url) {
	process.stderr.write("usage: node bench/ui_browser.cjs URL_WITH_TOKEN [IDS] [ROUNDS]\n");
	process.exit(2);
}
const ids = (idsArg || "").split(",").filter(Boolean);
const rounds = Number(roundsArg || 5);
const origin = new URL(url).origin;
const median = (a) => { const s = a.slice().sort((x, y) => x - y); return s.length ? s[Math.floor((s.length - 1) / 2)] : null; };

async function runsPage(page) {
	const t0 = performance.now();
	await page.goto(origin + "/", {waitUntil: "domcontentloaded"});
	await page.waitForSelector("table.runs tbody tr[data-id]", {timeout: 30000});
	await page.focus("#q");
	await page.keyboard.type("x");
	await page.waitForFunction(() => document.getElementById("q").value.endsWith("x"), {timeout: 30000});
	const ms = performance.now() - t0;
	const rows = await page.$$eval("table.runs tbody tr[data-id]", (t) => t.length);
	return {ms, rows};
}

async function compare(page) {
	const t0 = performance.now();
	await page.goto(origin + "/compare?ids=" + ids.join(","), {waitUntil: "domcontentloaded"});
	await page.waitForFunction(() => {
		const charts = document.querySelectorAll(".chart");
		return document.querySelector("table.envdiff, section.card p.error") && charts.length > 0 &&
			[...charts].every((c) => c.dataset.drawn || c.querySelector("p"));
	}, {timeout: 60000, polling: "raf"});
	const ms = performance.now() - t0;
	const info = await page.evaluate(() => ({
		charts: document.querySelectorAll(".chart[data-drawn]").length,
		curves: Math.max(0, ...[...document.querySelectorAll(".chart[data-drawn]")].map((c) => c.querySelectorAll(".u-legend .u-series").length - 1)),
	}));
	return Object.assign({ms}, info);
}

async function main() {
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), "rp-ui-bench."));
	const browser = await puppeteer.launch({
		executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
		headless: true,
		userDataDir: profile,
		args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
			"--disable-component-update", "--disable-sync"],
		defaultViewport: {width: 1366, height: 768},
	});
	const result = {rounds};
	const errors = [];
	try {
		const page = await browser.newPage();
		page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
		page.on("pageerror", (e) => errors.push(e.message));
		await page.goto(url, {waitUntil: "domcontentloaded"});   // the token: sets the cookie
		await page.waitForSelector("table.runs tbody tr[data-id]", {timeout: 30000});
		const rp = [];
		await runsPage(page);
		for (let i = 0; i < rounds; i++) rp.push(await runsPage(page));
		result.runs_page_ms = Math.round(median(rp.map((r) => r.ms)));
		result.runs_page_all_ms = rp.map((r) => Math.round(r.ms));
		result.runs_page_rows = rp[0].rows;
		if (ids.length) {
			const cp = [];
			await compare(page);
			for (let i = 0; i < rounds; i++) cp.push(await compare(page));
			result.compare_runs = ids.length;
			result.compare_ms = Math.round(median(cp.map((r) => r.ms)));
			result.compare_all_ms = cp.map((r) => Math.round(r.ms));
			result.compare_charts = cp[0].charts;
			result.compare_curves = cp[0].curves;
		}
	} finally {
		await browser.close();
		fs.rmSync(profile, {recursive: true, force: true});
	}
	result.console_errors = errors;
	process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((e) => { process.stderr.write("ui_browser: " + (e && e.stack || e) + "\n"); process.exit(1); });
