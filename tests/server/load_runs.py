#!/usr/bin/env python3
"""Load a local run store into the server's tables (made by `runpilot server migrate`), for the
server's tests, until push does it: prints SQL (COPY) for psql on stdout.

  load_runs.py HOME DATA_DIR PROJECT_ID:UID_PREFIX:ID_OFFSET ...

For each PROJECT spec, every run of HOME's index (HOME/index.db: runs, params, tags, metrics as
`runpilot list` indexes them) becomes a row of runs (id = its number + ID_OFFSET, uid = UID_PREFIX
+ its uid, record = its run.json), its params/tags/metrics rows, one series row per metric (from
metrics.jsonl, in the order reported), its annotations (annotations.json), and its logs.txt,
outputs/ and files.json as blobs: stored under DATA_DIR/blobs/ab/cdef... and named in run_blobs.
"""
import hashlib, json, math, os, shutil, sqlite3, sys

home, data_dir, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
db = sqlite3.connect(os.path.join(home, "index.db"))
runs_dir = os.path.join(home, "runs")


def cell(v):
    if v is None:
        return "\\N"
    if isinstance(v, float):
        return repr(v)
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def num_array(vals, ints=False):
    out = []
    for v in vals:
        if v is None:
            out.append("NaN")
        elif ints:
            out.append(str(int(v)))
        elif math.isnan(v):
            out.append("NaN")
        elif math.isinf(v):
            out.append("Infinity" if v > 0 else "-Infinity")
        else:
            out.append(repr(float(v)))
    return "{" + ",".join(out) + "}"


def pg_text_array(vals):
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in vals) + "}"


blobs = {}


def blob(path):
    h = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if h not in blobs:
        dest = os.path.join(data_dir, "blobs", h[:2], h[2:])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if not os.path.exists(dest):
            shutil.copyfile(path, dest)
        blobs[h] = os.path.getsize(path)
    return h


cols = ("num uid name status reason created started ended duration runner image fingerprint exit_code signal "
        "fp_config fp_code fp_runtime fp_packages fp_env note sweep").split()
rows = db.execute("SELECT id, %s FROM runs ORDER BY num" % ", ".join(cols)).fetchall()
key = {}
out = []
series, run_blobs, annotations = [], [], []
out.append("COPY runs (id, project_id, content_hash, record, %s) FROM stdin;" % ", ".join(cols))
for spec in specs:
    proj, prefix, offset = spec.split(":")
    proj, offset = int(proj), int(offset)
    for r in rows:
        rid = r[1] + offset
        key[(proj, r[0])] = rid
        d = os.path.join(runs_dir, r[0])
        rec_text = open(os.path.join(d, "run.json"), "rb").read()
        rec = json.loads(rec_text)
        vals = list(r[1:])
        vals[1] = prefix + vals[1]
        out.append("\t".join(cell(v) for v in [rid, proj, hashlib.sha256(rec_text).hexdigest(), json.dumps(rec)] + vals))
        pts = {}
        mj = os.path.join(d, "metrics.jsonl")
        if os.path.exists(mj):
            for line in open(mj):
                try:
                    p = json.loads(line)
                except ValueError:
                    continue
                s = pts.setdefault(p["name"], ([], []))
                s[0].append(p["step"])
                s[1].append(p.get("value"))
        for name, (steps, values) in pts.items():
            series.append([rid, name, num_array(steps, True), num_array(values)])
        for rel in ["logs.txt", "files.json"]:
            if os.path.isfile(os.path.join(d, rel)):
                run_blobs.append([rid, rel, blob(os.path.join(d, rel))])
        od = os.path.join(d, "outputs")
        for root, _, files in os.walk(od):
            for f in files:
                full = os.path.join(root, f)
                if os.path.isfile(full) and not os.path.islink(full):
                    run_blobs.append([rid, "outputs/" + os.path.relpath(full, od), blob(full)])
        an = os.path.join(d, "annotations.json")
        if os.path.exists(an):
            a = json.load(open(an))
            annotations.append([rid, pg_text_array(a.get("tags_added", [])), pg_text_array(a.get("tags_removed", [])),
                                a.get("note")])
out.append("\\.")
for table, c in (("params", "key, num, text"), ("tags", "tag"), ("metrics", "name, last, min, max, count, last_step")):
    out.append("COPY %s (run_id, %s) FROM stdin;" % (table, c))
    for spec in specs:
        proj = int(spec.split(":")[0])
        for r in db.execute("SELECT run_id, %s FROM %s" % (c, table)):
            out.append("\t".join(cell(v) for v in [key[(proj, r[0])]] + list(r[1:])))
    out.append("\\.")
for table, c, data in (("series", 'run_id, name, steps, "values"', series),
                       ("blobs", "sha256, size", [[h, s] for h, s in blobs.items()]),
                       ("run_blobs", "run_id, path, sha256", run_blobs),
                       ("annotations", "run_id, tags_added, tags_removed, note", annotations)):
    out.append("COPY %s (%s) FROM stdin;" % (table, c))
    out.extend("\t".join(cell(v) for v in row) for row in data)
    out.append("\\.")
sys.stdout.write("\n".join(out) + "\n")
