// RunPilot UI: one page, three views (runs, run, compare), routed by path. Every value from a run
// goes into the page as text (el() and text nodes), never as HTML.
"use strict";

(function () {
	const main = document.getElementById("main");
	const busy = document.getElementById("busy");
	let cleanups = [];        // what the current view must undo when another one replaces it
	let pending = 0;

	// ---- small helpers --------------------------------------------------------------------
	function el(tag, attrs, ...kids) {
		const e = document.createElement(tag);
		if (attrs) {
			for (const [k, v] of Object.entries(attrs)) {
				if (v === null || v === undefined || v === false) continue;
				if (k === "class") e.className = v;
				else if (k === "text") e.textContent = v;
				else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
				else if (k in e && typeof v !== "string") e[k] = v;
				else e.setAttribute(k, v === true ? "" : v);
			}
		}
		for (const c of kids.flat()) {
			if (c === null || c === undefined || c === false) continue;
			e.append(c instanceof Node ? c : document.createTextNode(String(c)));
		}
		return e;
	}

	class HttpError extends Error {
		constructor(status, message) { super(message); this.status = status; }
	}

	async function api(path, opts) {
		pending++;
		busy.hidden = false;
		try {
			const r = await fetch(path, Object.assign({credentials: "same-origin"}, opts || {}));
			let body = null;
			try { body = await r.json(); } catch (e) { body = null; }
			if (!r.ok) throw new HttpError(r.status, (body && body.error) || ("HTTP " + r.status));
			return body;
		} finally {
			if (--pending === 0) busy.hidden = true;
		}
	}

	const enc = encodeURIComponent;
	function pad(n) { return String(n).padStart(2, "0"); }
	function fmtTime(t) {
		if (t === null || t === undefined || t === "") return "";
		const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
		if (isNaN(d)) return String(t);
		return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
			pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
	}
	function fmtDur(s) {
		if (s === null || s === undefined) return "";
		if (s < 60) return (Math.round(s * 100) / 100) + " s";
		const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
		return h ? `${h}h ${m}m` : `${m}m ${sec}s`;
	}
	function fmtBytes(b) {
		if (b === null || b === undefined) return "";
		const u = ["B", "KiB", "MiB", "GiB", "TiB"];
		let i = 0;
		while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
		return (i ? b.toFixed(1) : String(b)) + " " + u[i];
	}
	function fmtVal(v) {
		if (v === null || v === undefined) return "";
		if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Math.round(v * 1e6) / 1e6);
		if (typeof v === "string") return v;
		return JSON.stringify(v);
	}
	function num(v) {
		if (typeof v === "number" && isFinite(v)) return v;
		return null;
	}
	function statusText(row) {
		let s = row.status || "";
		if (row.reason && row.reason !== row.status) s += " (" + row.reason + ")";
		else if (row.status === "failed" && row.exit_code !== null && row.exit_code !== undefined) s += " (exit " + row.exit_code + ")";
		return s;
	}
	function statusBadge(row) {
		return el("span", {class: "status st-" + String(row.status || "unknown").replace(/[^a-z]/g, "")}, statusText(row));
	}
	function runLink(id, label) {
		return el("a", {href: "/run/" + enc(id)}, label === undefined ? id : label);
	}
	function errorBox(e) {
		return el("p", {class: "error", role: "alert"}, e instanceof Error ? e.message : String(e));
	}
	function onCleanup(f) { cleanups.push(f); }
	function epochOf(v) {
		if (typeof v === "number") return v;
		const t = Date.parse(v);
		return isNaN(t) ? null : t / 1000;
	}

	// ---- routing ---------------------------------------------------------------------------
	function navigate(url, replace) {
		if (replace) history.replaceState(null, "", url);
		else history.pushState(null, "", url);
		route();
	}

	document.addEventListener("click", (ev) => {
		if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
		const a = ev.target.closest && ev.target.closest("a[href]");
		if (!a || a.target || a.hasAttribute("download")) return;
		const u = new URL(a.href, location.href);
		if (u.origin !== location.origin || u.pathname.startsWith("/api/") || u.pathname.startsWith("/assets/")) return;
		if (u.pathname === location.pathname && u.search === location.search && u.hash) return;
		ev.preventDefault();
		navigate(u.pathname + u.search);
	});
	window.addEventListener("popstate", route);
	document.addEventListener("keydown", (ev) => {
		if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
		const t = ev.target;
		if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
		const q = document.getElementById("q");
		if (q) { ev.preventDefault(); q.focus(); q.select(); }
	});

	let routeSeq = 0;
	function route() {
		for (const f of cleanups.splice(0)) { try { f(); } catch (e) { /* the view is gone */ } }
		const seq = ++routeSeq;
		const p = location.pathname;
		const fresh = () => seq === routeSeq;
		main.replaceChildren();
		let m;
		if (p === "/" || p === "/index.html") return runsPage(fresh);
		if ((m = /^\/run\/([^/]+)\/?$/.exec(p))) return runPage(decodeURIComponent(m[1]), fresh);
		if (p === "/compare" || p === "/compare/") return comparePage(fresh);
		document.title = "Not found · RunPilot";
		main.append(el("h1", null, "Not found"), el("p", null, "No page here. ", el("a", {href: "/"}, "See the runs.")));
	}

	// ---- runs ------------------------------------------------------------------------------
	const BASE_COLS = [
		["id", "ID"], ["name", "Name"], ["status", "Status"], ["started", "Started"], ["duration", "Duration"],
	];
	const selected = new Set();   // run ids picked for compare; kept across pages and queries

	function runsPage(fresh) {
		const params = new URLSearchParams(location.search);
		const st = {
			where: params.get("where") || "",
			sort: params.get("sort") || "-id",
			columns: params.has("columns") ? params.get("columns").split(",").filter(Boolean) : null,
			after: null,
			back: [],      // the cursors of the pages before this one
		};
		document.title = "Runs · RunPilot";

		const q = el("input", {id: "q", type: "search", value: st.where, spellcheck: "false", autocomplete: "off",
			placeholder: "--where, e.g. params.lr < 0.01 and status = success   ( / to focus )",
			"aria-label": "Filter runs (--where)", "aria-describedby": "q-err"});
		const qerr = el("p", {id: "q-err", class: "error", role: "alert"});
		const form = el("form", {class: "search", role: "search"}, q, el("button", {type: "submit"}, "Search"));
		form.addEventListener("submit", (ev) => {
			ev.preventDefault();
			st.where = q.value.trim();
			st.after = null; st.back = [];
			pushUrl();
			load();
		});
		const counts = el("p", {class: "counts", "aria-live": "polite"});
		const chooser = el("details", {class: "chooser"}, el("summary", null, "Columns"));
		const chooserBody = el("div", {class: "chooser-body"});
		chooser.append(chooserBody);
		const compareBtn = el("button", {type: "button", class: "primary", disabled: true}, "Compare");
		const selInfo = el("span", {class: "muted"});
		const clearBtn = el("button", {type: "button", disabled: true}, "Clear selection");
		const table = el("table", {class: "runs"});
		const prevBtn = el("button", {type: "button", disabled: true}, "‹ Back");
		const nextBtn = el("button", {type: "button", disabled: true}, "Next ›");
		const pageInfo = el("span", {class: "muted"});
		compareBtn.addEventListener("click", () => {
			navigate("/compare?ids=" + [...selected].map(enc).join(","));
		});
		clearBtn.addEventListener("click", () => {
			selected.clear();
			for (const c of table.querySelectorAll("input.pick")) c.checked = false;
			updateSel();
		});
		nextBtn.addEventListener("click", () => {
			if (!st.next) return;
			st.back.push(st.after);
			st.after = st.next;
			load(true);
		});
		prevBtn.addEventListener("click", () => {
			if (!st.back.length) return;
			st.after = st.back.pop();
			load(true);
		});

		main.append(
			el("div", {class: "bar"}, el("h1", null, "Runs"), counts),
			form, qerr,
			el("div", {class: "bar"}, chooser, el("span", {class: "grow"}), selInfo, clearBtn, compareBtn),
			el("div", {class: "table-wrap"}, table),
			el("div", {class: "bar pager"}, prevBtn, pageInfo, nextBtn));

		function pushUrl() {
			const u = new URLSearchParams();
			if (st.where) u.set("where", st.where);
			if (st.sort && st.sort !== "-id") u.set("sort", st.sort);
			if (st.columns) u.set("columns", st.columns.join(","));
			const s = u.toString();
			history.pushState(null, "", "/" + (s ? "?" + s : ""));
		}
		function updateSel() {
			const n = selected.size;
			selInfo.textContent = n ? n + " selected" : "";
			compareBtn.disabled = n < 2 || n > 100;
			compareBtn.title = n > 100 ? "compare takes at most 100 runs" : "";
			clearBtn.disabled = n === 0;
		}
		updateSel();

		let loadSeq = 0;
		async function load(paging) {
			const mine = ++loadSeq;
			const u = new URLSearchParams();
			if (st.where) u.set("where", st.where);
			u.set("sort", st.sort);
			if (st.after) u.set("after", st.after);
			u.set("limit", "50");
			if (st.columns && st.columns.length) u.set("columns", st.columns.join(","));
			let ans;
			try {
				ans = await api("/api/runs?" + u.toString());
			} catch (e) {
				if (!fresh() || mine !== loadSeq) return;
				if (e.status === 400) {
					qerr.textContent = e.message;
					q.setAttribute("aria-invalid", "true");
				} else {
					qerr.textContent = "Could not load the runs: " + e.message;
				}
				table.replaceChildren();
				nextBtn.disabled = prevBtn.disabled = true;
				return;
			}
			if (!fresh() || mine !== loadSeq) return;
			qerr.textContent = "";
			q.removeAttribute("aria-invalid");
			if (st.columns === null) {
				// No choice yet: show the metrics (a few), and say so in the URL.
				const ms = ((ans.columns && ans.columns.metrics) || []).slice(0, 4).map((m) => "metrics." + m);
				st.columns = ms;
				if (ms.length) {
					const uu = new URLSearchParams(location.search);
					uu.set("columns", ms.join(","));
					history.replaceState(null, "", "/?" + uu.toString());
					return load(paging);
				}
			}
			st.next = ans.next || null;
			renderCounts(ans.counts || {});
			renderChooser(ans.columns || {params: [], metrics: []});
			renderTable(ans.runs || []);
			nextBtn.disabled = !st.next;
			prevBtn.disabled = st.back.length === 0;
			pageInfo.textContent = "page " + (st.back.length + 1);
			if (paging) table.querySelector("tbody a")?.focus();
		}

		function renderCounts(c) {
			const parts = [];
			let total = 0;
			for (const [k, n] of Object.entries(c)) {
				total += n;
				parts.push(el("a", {class: "count st-" + k.replace(/[^a-z]/g, ""), href: "/?where=" + enc("status = " + k)}, k + " " + n));
			}
			counts.replaceChildren(el("span", null, total + " runs" + (st.where ? " match" : "")), ...parts);
		}

		function renderChooser(cols) {
			const mk = (kind, names) => {
				if (!names || !names.length) return null;
				const box = el("fieldset", null, el("legend", null, kind));
				for (const n of names) {
					const key = kind + "." + n;
					const cb = el("input", {type: "checkbox", value: key, checked: st.columns.includes(key)});
					cb.addEventListener("change", () => {
						if (cb.checked) st.columns.push(key);
						else st.columns = st.columns.filter((c) => c !== key);
						st.after = null; st.back = [];
						pushUrl();
						load();
					});
					box.append(el("label", null, cb, " " + n));
				}
				return box;
			};
			const open = chooser.open;
			chooserBody.replaceChildren(mk("metrics", cols.metrics), mk("params", cols.params) ||
				(cols.metrics && cols.metrics.length ? null : el("p", {class: "muted"}, "No params or metrics in these runs.")));
			chooser.open = open;
		}

		function header(key, label) {
			const cur = st.sort.replace(/^-/, "");
			const desc = st.sort.startsWith("-");
			const th = el("th", {scope: "col", "data-key": key});
			const b = el("button", {type: "button", class: "sort"}, label);
			if (cur === key) {
				th.setAttribute("aria-sort", desc ? "descending" : "ascending");
				b.append(el("span", {class: "arrow", "aria-hidden": "true"}, desc ? " ▼" : " ▲"));
			}
			b.addEventListener("click", () => {
				const firstDesc = ["id", "started", "created", "duration"].includes(key);
				if (cur === key) st.sort = desc ? key : "-" + key;
				else st.sort = (firstDesc ? "-" : "") + key;
				st.after = null; st.back = [];
				pushUrl();
				load().then(() => table.querySelector(`th[data-key="${CSS.escape(key)}"] button`)?.focus());
			});
			th.append(b);
			return th;
		}

		function renderTable(rows) {
			const cols = st.columns || [];
			const head = el("tr", null, el("th", {scope: "col", class: "pick"}, el("span", {class: "sr"}, "Pick")),
				BASE_COLS.map(([k, l]) => header(k, l)), el("th", {scope: "col"}, "Tags"),
				cols.map((c) => header(c, c.replace(/^metrics\./, "").replace(/^params\./, "") + (c.startsWith("params.") ? " (param)" : ""))));
			const body = el("tbody");
			for (const r of rows) {
				const cb = el("input", {type: "checkbox", class: "pick", checked: selected.has(r.id), "aria-label": "pick " + r.id});
				cb.addEventListener("change", () => {
					if (cb.checked) selected.add(r.id); else selected.delete(r.id);
					updateSel();
				});
				const v = r.values || {};
				body.append(el("tr", {"data-id": r.id},
					el("td", {class: "pick"}, cb),
					el("td", {class: "id"}, runLink(r.id)),
					el("td", {class: "name"}, r.name || ""),
					el("td", null, statusBadge(r)),
					el("td", {class: "time"}, fmtTime(r.started !== undefined ? r.started : r.created)),
					el("td", {class: "num"}, fmtDur(r.duration)),
					el("td", {class: "tags"}, (r.tags || []).map((t) => el("span", {class: "tag"}, t))),
					cols.map((c) => el("td", {class: "num", "data-col": c}, fmtVal(v[c])))));
			}
			if (!rows.length) {
				body.append(el("tr", null, el("td", {colspan: String(7 + cols.length), class: "muted"},
					st.where ? "No run matches." : "No runs yet.")));
			}
			table.replaceChildren(el("thead", null, head), body);
		}

		load();
	}

	// ---- charts ----------------------------------------------------------------------------
	const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
		"#bcbd22", "#17becf", "#393b79", "#e6550d", "#31a354", "#756bb1", "#636363", "#843c39", "#3182bd",
		"#fd8d3c", "#74c476", "#9e9ac8"];

	function chartWidth(box) {
		return Math.max(280, Math.min(640, (box.clientWidth || 600) - 4));
	}

	const plots = new Map();     // each chart of the view, and the box it fills
	let resizeTimer = 0;
	window.addEventListener("resize", () => {
		clearTimeout(resizeTimer);
		resizeTimer = setTimeout(() => {
			for (const [u, box] of plots) u.setSize({width: chartWidth(box), height: 220});
		}, 150);
	});

	function makePlot(box, title, series, data, hooks) {
		const opts = {
			title: title,
			width: chartWidth(box),
			height: 220,
			scales: {x: {time: false}},
			axes: [{label: "step"}, {}],
			cursor: {drag: {x: true, y: false}},
			legend: {show: series.length > 1 || true},
			series: [{label: "step"}].concat(series),
			hooks: hooks || {},
		};
		const u = new uPlot(opts, data, box);
		plots.set(u, box);
		onCleanup(() => { plots.delete(u); u.destroy(); });
		return u;
	}

	function seriesData(ans) {
		return [ans.steps.map(Number), ans.values.map(num)];
	}

	// One run's metric chart: the downsampled series; zooming in asks for full resolution.
	async function runChart(box, id, name, fresh) {
		const base = "/api/runs/" + enc(id) + "/metrics/" + enc(name);
		let ans;
		try { ans = await api(base); } catch (e) { box.replaceChildren(errorBox(e)); return; }
		if (!fresh()) return;
		box.replaceChildren();
		const full = seriesData(ans);
		const first = full[0].length ? full[0][0] : 0, last = full[0].length ? full[0][full[0].length - 1] : 0;
		let zoomed = false, busyZoom = false, timer = 0;
		const onScale = (u, key) => {
			if (key !== "x" || busyZoom) return;
			const {min, max} = u.scales.x;
			if (min === null || max === null) return;
			clearTimeout(timer);
			timer = setTimeout(async () => {
				if (zoomed && min <= first && max >= last) {          // zoomed back out: the overview
					zoomed = false; busyZoom = true;
					u.setData(full); busyZoom = false;
					return;
				}
				if (!ans.downsampled && !zoomed) return;              // already every point
				if (min <= first && max >= last) return;
				try {
					const z = await api(base + "?from=" + Math.floor(min) + "&to=" + Math.ceil(max));
					if (!fresh()) return;
					zoomed = true; busyZoom = true;
					u.setData(seriesData(z), false);
					busyZoom = false;
				} catch (e) { /* keep what is drawn */ }
			}, 120);
		};
		const u = makePlot(box, name + (ans.downsampled ? " (" + ans.count + " points, downsampled)" : ""),
			[{label: name, stroke: COLORS[0], width: 1.5, spanGaps: true, points: {show: full[0].length < 60}}],
			full, {setScale: [onScale]});
		box.dataset.drawn = "1";
		return u;
	}

	// ---- run -------------------------------------------------------------------------------
	async function runPage(id, fresh) {
		document.title = id + " · RunPilot";
		let ans;
		try {
			ans = await api("/api/runs/" + enc(id));
		} catch (e) {
			if (!fresh()) return;
			main.append(el("h1", null, id), errorBox(e.status === 404 ? "No run " + id + "." : e));
			return;
		}
		if (!fresh()) return;
		const run = ans.run || {};
		document.title = (run.name || id) + " · " + id + " · RunPilot";

		const head = el("header", {class: "run-head"});
		const renderHead = (r) => {
			const facts = [
				["ID", r.id], ["Status", statusBadge({status: r.status, reason: r.reason, exit_code: r.exit_code})],
				["Created", fmtTime(r.created_at)], ["Started", fmtTime(r.started_at)], ["Ended", fmtTime(r.ended_at)],
				["Duration", fmtDur(r.duration_s)], ["Exit code", r.exit_code === null || r.exit_code === undefined ? "" : String(r.exit_code)],
				["Runner", r.runner && r.runner.type], ["Host", r.host && r.host.hostname],
				["Entrypoint", r.entrypoint],
			];
			if (r.error) facts.push(["Error", r.error]);
			head.replaceChildren(
				el("p", {class: "crumbs"}, el("a", {href: "/"}, "Runs"), " / ", r.id || id),
				el("h1", {class: "run-name"}, r.name || id),
				el("dl", {class: "facts"}, facts.filter(([, v]) => v !== undefined && v !== null && v !== "")
					.map(([k, v]) => el("div", null, el("dt", null, k), el("dd", null, v)))));
		};
		renderHead(run);
		main.append(head);

		const grid = el("div", {class: "grid"});
		main.append(grid);
		grid.append(section("Params", paramsTable(run.params || {})));
		grid.append(section("Tags and note", annotations(id, run)));
		const metricsCard = section("Metrics", metricsBlock(id, run.metrics || ans.metrics_now, fresh), "metrics");
		main.append(metricsCard);
		const grid2 = el("div", {class: "grid"});
		main.append(grid2);
		grid2.append(section("Resources", resourcesTable(run.resources)));
		grid2.append(section("Outputs", el("div", null, outputsTable(id, ans.outputs || []),
			ans.outputs_truncated ? el("p", {class: "note"}, "Only the first " + ans.outputs.length + " files are listed.") : null)));
		// When a live run ends, its header and its charts are drawn again from the final record.
		const ended = (a) => {
			renderHead(a.run || {});
			metricsCard.replaceWith(section("Metrics", metricsBlock(id, (a.run || {}).metrics || a.metrics_now, fresh), "metrics"));
		};
		main.append(section("Log", logBlock(id, run, ans, ended, fresh), "log"));
		main.append(section("Environment fingerprint", fingerprintBlock(run.environment)));
	}

	function section(title, body, cls) {
		return el("section", {class: "card" + (cls ? " " + cls : "")}, el("h2", null, title), body);
	}

	function kvTable(entries, cls) {
		if (!entries.length) return el("p", {class: "muted"}, "None.");
		return el("table", {class: "kv " + (cls || "")}, el("tbody", null,
			entries.map(([k, v]) => el("tr", null, el("th", {scope: "row"}, k), el("td", null, v)))));
	}

	function paramsTable(p) {
		return kvTable(Object.keys(p).sort().map((k) => [k, fmtVal(p[k])]), "params");
	}

	function annotations(id, run) {
		const box = el("div", {class: "annot"});
		const msg = el("p", {class: "error", role: "alert"});
		const tagList = el("ul", {class: "tags", "aria-label": "tags"});
		const tagIn = el("input", {type: "text", "aria-label": "new tag", placeholder: "new tag", maxlength: "200"});
		const addBtn = el("button", {type: "submit"}, "Add tag");
		const note = el("textarea", {rows: "3", "aria-label": "note", placeholder: "a note about this run"});
		const saveBtn = el("button", {type: "button"}, "Save note");
		const saved = el("span", {class: "muted", "aria-live": "polite"});
		const show = (r) => {
			tagList.replaceChildren(...(r.tags || []).map((t) => {
				const rm = el("button", {type: "button", class: "x", "aria-label": "remove tag " + t, title: "remove"}, "×");
				rm.addEventListener("click", () => change({tags: ["-" + t]}));
				return el("li", {class: "tag"}, t, " ", rm);
			}));
			if (!(r.tags || []).length) tagList.append(el("li", {class: "muted"}, "no tags"));
			note.value = r.note || "";
		};
		async function change(body) {
			msg.textContent = ""; saved.textContent = "";
			try {
				const a = await api("/api/runs/" + enc(id) + "/annotations", {
					method: "POST",
					headers: {"Content-Type": "application/json", "X-Requested-With": "runpilot"},
					body: JSON.stringify(body),
				});
				show((a && a.run) || {});
				saved.textContent = "saved";
				return true;
			} catch (e) {
				msg.textContent = "Not saved: " + e.message;
				return false;
			}
		}
		const form = el("form", {class: "row"}, tagIn, addBtn);
		form.addEventListener("submit", async (ev) => {
			ev.preventDefault();
			const t = tagIn.value.trim();
			if (!t) return;
			if (await change({tags: ["+" + t]})) tagIn.value = "";
		});
		saveBtn.addEventListener("click", () => change({note: note.value}));
		show(run);
		box.append(tagList, form, note, el("div", {class: "row"}, saveBtn, saved), msg);
		return box;
	}

	function metricsBlock(id, metrics, fresh) {
		const ms = metrics || {};
		const names = Object.keys(ms).sort();
		if (!names.length) return el("p", {class: "muted"}, "This run reported no metrics.");
		const summary = el("table", {class: "data"}, el("thead", null, el("tr", null,
			["metric", "last", "min", "max", "count", "last step"].map((h) => el("th", {scope: "col"}, h)))),
		el("tbody", null, names.map((n) => {
			const m = ms[n] || {};
			return el("tr", null, el("th", {scope: "row"}, n), ["last", "min", "max", "count", "last_step"].map((k) =>
				el("td", {class: "num"}, fmtVal(m[k]))));
		})));
		const charts = el("div", {class: "charts"});
		const wrap = el("div", null, summary, el("p", {class: "muted hint"}, "Drag across a chart to zoom in (full resolution), double-click to zoom out."), charts);
		requestAnimationFrame(() => {
			for (const n of names) {
				const box = el("div", {class: "chart", "data-metric": n});
				charts.append(box);
				runChart(box, id, n, fresh);
			}
		});
		return wrap;
	}

	function resourcesTable(res) {
		if (!res) return el("p", {class: "muted"}, "Not recorded.");
		const lim = res.limits || {}, use = res.usage || {};
		const req = (k) => lim[k] && lim[k].requested !== undefined ? lim[k].requested : null;
		const by = (k) => lim[k] ? (lim[k].enforced_by ? "enforced by " + lim[k].enforced_by : (lim[k].requested !== null && lim[k].requested !== undefined ? "not enforced" + (lim[k].not_enforced ? ": " + lim[k].not_enforced : "") : "")) : "";
		const rows = [];
		const meter = (used, limit) => (used !== null && used !== undefined && limit) ?
			el("meter", {min: "0", max: String(limit), value: String(Math.min(used, limit)), high: String(limit * 0.9)}) : null;
		const line = (what, used, limit, fmt, k) => {
			if ((used === null || used === undefined) && (limit === null || limit === undefined)) return;
			rows.push(el("tr", null, el("th", {scope: "row"}, what),
				el("td", {class: "num"}, used === null || used === undefined ? "unknown" : fmt(used)),
				el("td", {class: "num"}, limit === null || limit === undefined ? "no limit" : fmt(limit)),
				el("td", null, meter(used, limit)), el("td", {class: "muted"}, k ? by(k) : "")));
		};
		line("CPU (avg cores)", use.cpu_avg_cores, req("cpus"), (v) => fmtVal(v), "cpus");
		line("CPU time", use.cpu_total_s, null, fmtDur);
		line("Memory peak", use.memory_peak_bytes, req("memory"), fmtBytes, "memory");
		line("Max RSS", use.max_rss_bytes, null, fmtBytes);
		line("Processes", use.pids_peak, req("pids"), fmtVal, "pids");
		line("Wall time", use.wall_s, req("timeout_s"), fmtDur, "timeout_s");
		line("OOM kills", use.oom_kills, null, fmtVal);
		line("Throttled", use.throttled_s, null, fmtDur);
		if (!rows.length) return el("p", {class: "muted"}, "Not recorded.");
		return el("div", null, el("table", {class: "data"}, el("thead", null, el("tr", null,
			["", "used", "limit", "", ""].map((h) => el("th", {scope: "col"}, h)))), el("tbody", null, rows)),
		res.source ? el("p", {class: "muted"}, "metered by " + res.source) : null);
	}

	function outputsTable(id, outs) {
		if (!outs.length) return el("p", {class: "muted"}, "No outputs.");
		return el("table", {class: "data"}, el("thead", null, el("tr", null,
			["file", "size", "modified"].map((h) => el("th", {scope: "col"}, h)))),
		el("tbody", null, outs.map((o) => el("tr", null,
			el("td", null, el("a", {href: "/api/runs/" + enc(id) + "/outputs/" + String(o.path).split("/").map(enc).join("/"), download: ""}, o.path)),
			el("td", {class: "num"}, fmtBytes(o.size)), el("td", {class: "time"}, fmtTime(o.mtime))))));
	}

	function logBlock(id, run, ans, onEnded, fresh) {
		const pre = el("pre", {class: "log", tabindex: "0", "aria-label": "log"});
		const info = el("p", {class: "muted"});
		const wrap = el("div", null, info, pre);
		const base = "/api/runs/" + enc(id) + "/log";
		(async () => {
			let lg;
			try { lg = await api(base + "?offset=-65536"); } catch (e) { wrap.replaceChildren(errorBox(e)); return; }
			if (!fresh()) return;
			pre.textContent = lg.text || "";
			info.textContent = lg.size ? (lg.offset > 0 ? "the last " + fmtBytes(lg.size - lg.offset) + " of " + fmtBytes(lg.size) : fmtBytes(lg.size)) : "empty";
			if (!lg.size && !lg.running) pre.textContent = "(no output)";
			pre.scrollTop = pre.scrollHeight;
			if (lg.running) follow(lg.next);
		})();
		function follow(offset) {
			const es = new EventSource(base + "/stream?offset=" + enc(offset));
			info.textContent = "live: following the log";
			onCleanup(() => es.close());
			es.addEventListener("log", (ev) => {
				let t;
				try { t = JSON.parse(ev.data); } catch (e) { return; }
				const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
				pre.append(document.createTextNode(t));
				if (atEnd) pre.scrollTop = pre.scrollHeight;
			});
			es.addEventListener("end", async () => {
				es.close();
				info.textContent = "the run has ended";
				try {
					const a = await api("/api/runs/" + enc(id));
					if (fresh()) onEnded(a);
				} catch (e) { /* the header stays as it was */ }
			});
			es.onerror = () => { es.close(); if (fresh()) info.textContent = "stopped following the log (connection lost)"; };
		}
		return wrap;
	}

	function short(h) {
		return typeof h === "string" ? h.replace(/^sha256:/, "").slice(0, 12) : "";
	}

	function componentSummary(name, c) {
		if (!c || typeof c !== "object") return "";
		const parts = [];
		if (name === "code") {
			if (c.kind) parts.push(c.kind);
			if (c.commit) parts.push("commit " + String(c.commit).slice(0, 10));
			if (c.branch) parts.push("branch " + c.branch);
			if (c.dirty) parts.push("dirty" + (c.dirty_files ? ": " + c.dirty_files.join(", ") : ""));
			if (c.files !== undefined) parts.push(c.files + " files");
			if (c.bytes !== undefined) parts.push(fmtBytes(c.bytes));
		} else if (name === "runtime") {
			if (c.kind) parts.push(c.kind);
			if (c.os) parts.push([c.os.id, c.os.version_id].filter(Boolean).join(" "));
			if (c.libc) parts.push(c.libc);
			if (c.interpreter && c.interpreter.command) parts.push(c.interpreter.command + " " + (c.interpreter.version || ""));
			if (c.image) parts.push("image " + fmtVal(c.image));
		} else if (name === "packages") {
			if (c.count !== undefined) parts.push(c.count + " packages");
			if (c.lock_files && Object.keys(c.lock_files).length) parts.push("locks: " + Object.keys(c.lock_files).join(", "));
		} else if (name === "env") {
			if (c.vars) parts.push(Object.keys(c.vars).length + " variables");
			if (c.hashed && c.hashed.length) parts.push(c.hashed.length + " hashed");
		} else if (name === "config") {
			if (c.values) parts.push(Object.keys(c.values).length + " values");
		}
		return parts.filter(Boolean).join(" · ");
	}

	function fingerprintBlock(env) {
		if (!env) return el("p", {class: "muted"}, "Not recorded.");
		if (env.error) return el("p", {class: "error"}, "Not computed: " + env.error);
		const comps = env.components || {};
		const names = ["config", "code", "runtime", "packages", "env"].filter((n) => comps[n])
			.concat(Object.keys(comps).filter((n) => !["config", "code", "runtime", "packages", "env"].includes(n)));
		return el("div", null,
			el("p", null, "Fingerprint ", el("code", {title: env.fingerprint || ""}, env.fingerprint || "")),
			el("table", {class: "data fp"}, el("thead", null, el("tr", null,
				["component", "hash", "what", ""].map((h) => el("th", {scope: "col"}, h)))),
			el("tbody", null, names.map((n) => el("tr", null, el("th", {scope: "row"}, n),
				el("td", null, el("code", {title: comps[n].hash || ""}, short(comps[n].hash))),
				el("td", null, componentSummary(n, comps[n])),
				el("td", null, el("details", null, el("summary", null, "details"),
					el("pre", {class: "json"}, JSON.stringify(comps[n], null, 2)))))))));
	}

	// ---- compare ---------------------------------------------------------------------------
	async function comparePage(fresh) {
		const ids = (new URLSearchParams(location.search).get("ids") || "").split(",").map((s) => s.trim()).filter(Boolean);
		document.title = "Compare · RunPilot";
		main.append(el("p", {class: "crumbs"}, el("a", {href: "/"}, "Runs"), " / compare"), el("h1", null, "Compare " + ids.length + " runs"));
		if (ids.length < 1) { main.append(el("p", null, "Pick runs on the ", el("a", {href: "/"}, "runs page"), " to compare them.")); return; }
		let ans;
		try {
			ans = await api("/api/compare?ids=" + ids.map(enc).join(","));
		} catch (e) {
			if (fresh()) main.append(errorBox(e));
			return;
		}
		if (!fresh()) return;
		const runs = ans.runs || [];
		const diff = (ans.params && ans.params.differing) || {};
		const same = (ans.params && ans.params.same) || {};
		const dkeys = Object.keys(diff).sort();
		const mnames = (ans.metrics || []).slice(0, 8);

		const table = el("table", {class: "runs compare"}, el("thead", null, el("tr", null,
			el("th", {scope: "col"}, "ID"), el("th", {scope: "col"}, "Name"), el("th", {scope: "col"}, "Status"),
			el("th", {scope: "col"}, "Duration"), dkeys.map((k) => el("th", {scope: "col", class: "param diff"}, k)),
			mnames.map((m) => el("th", {scope: "col", class: "metric"}, m)))),
		el("tbody", null, runs.map((r, i) => el("tr", null,
			el("td", {class: "id"}, el("span", {class: "swatch", "data-i": String(i % COLORS.length)}), runLink(r.id)),
			el("td", {class: "name"}, r.name || ""), el("td", null, statusBadge(r)), el("td", {class: "num"}, fmtDur(r.duration)),
			dkeys.map((k) => el("td", {class: "param diff"}, fmtVal((diff[k] || [])[i]))),
			mnames.map((m) => el("td", {class: "num metric"}, fmtVal((r.values || {})["metrics." + m])))))));
		const sameKeys = Object.keys(same).sort();
		main.append(section("Runs", el("div", null,
			el("div", {class: "table-wrap"}, table),
			dkeys.length ? el("p", {class: "muted"}, dkeys.length + " params differ (highlighted).") : el("p", {class: "muted"}, "No param differs."),
			sameKeys.length ? el("details", {class: "same"}, el("summary", null, sameKeys.length + " params are the same in every run"),
				kvTable(sameKeys.map((k) => [k, fmtVal(same[k])]))) : null)));

		main.append(section("Environment", envDiff(ans.environment || [])));

		const metrics = ans.metrics || [];
		const charted = runs.slice(0, 20);
		const charts = el("div", {class: "charts"});
		main.append(section("Metrics", el("div", null,
			runs.length > 20 ? el("p", {class: "note"}, "Charting the first 20 of " + runs.length + " runs.") : null,
			metrics.length ? charts : el("p", {class: "muted"}, "These runs reported no metrics."))));
		for (const m of metrics) {
			const box = el("div", {class: "chart", "data-metric": m});
			charts.append(box);
			compareChart(box, m, charted, fresh);
		}
	}

	async function compareChart(box, name, runs, fresh) {
		// The rows' values say which runs have the metric (when they carry metrics at all).
		const known = runs.some((r) => Object.keys(r.values || {}).some((k) => k.startsWith("metrics.")));
		const has = (r) => !known || (r.values && ("metrics." + name) in r.values);
		const answers = await Promise.all(runs.map((r) => has(r) ?
			api("/api/runs/" + enc(r.id) + "/metrics/" + enc(name) + "?points=500").catch(() => null) : null));
		if (!fresh()) return;
		const tables = [], series = [];
		answers.forEach((a, i) => {
			if (!a || !a.steps || !a.steps.length) return;
			tables.push(seriesData(a));
			series.push({label: runs[i].id + " " + (runs[i].name || ""), stroke: COLORS[i % COLORS.length], width: 1.5,
				spanGaps: true, points: {show: false}});
		});
		if (!tables.length) { box.append(el("p", {class: "muted"}, name + ": no data")); return; }
		const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
		makePlot(box, name, series, data);
		box.dataset.drawn = "1";
	}

	function changeItem(c) {
		if (!c || typeof c !== "object" || Array.isArray(c) || !Array.isArray(c.summary)) return el("li", null, changeText(c));
		const head = c.run ? c.run + (c.against ? " against " + c.against : "") + ": " : "";
		const first = c.summary.slice(0, 6), rest = c.summary.slice(6);
		return el("li", null, el("span", {class: "against"}, head),
			first.length === 1 && !rest.length ? first[0] : el("ul", null, first.map((x) => el("li", null, changeText(x)))),
			rest.length ? el("details", null, el("summary", null, rest.length + " more"),
				el("ul", null, rest.map((x) => el("li", null, changeText(x))))) : null);
	}

	function changeText(c) {
		if (c === null || c === undefined) return "";
		if (typeof c !== "object") return String(c);
		if (Array.isArray(c)) return c.map(changeText).join(", ");
		return Object.entries(c).map(([k, v]) => k + ": " + (typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ");
	}

	function envDiff(env) {
		if (!env.length) return el("p", {class: "muted"}, "No environment recorded.");
		return el("table", {class: "data envdiff"}, el("thead", null, el("tr", null,
			["component", "", "what changed"].map((h) => el("th", {scope: "col"}, h)))),
		el("tbody", null, env.map((c) => el("tr", {class: c.differs ? "differs" : "same"},
			el("th", {scope: "row"}, c.component || ""),
			el("td", null, el("span", {class: c.differs ? "badge differs" : "badge same"}, c.differs ? "differs" : "same")),
			el("td", null, (c.changes && c.changes.length) ?
				el("ul", {class: "changes"}, c.changes.map(changeItem)) : "")))));
	}

	route();
})();
