#!/usr/bin/env python3
"""Write N synthetic run directories into a run store, as `runpilot run` leaves them: run.json
(every field, the environment and resources sections, params, tags, a metrics summary),
metrics.json and metrics.jsonl, logs.txt. Not `runpilot run`: 100,000 runs in a minute.

  history_gen.py TEMPLATE_RUN_JSON STORE N      (TEMPLATE: a real run.json to start from)

env: GEN_METRICS (2: loss and val_acc; up to 5 adds grad_norm, lr_now, throughput), GEN_POINTS
(30: points in each metric's series).
"""
import datetime, json, os, random, sys, uuid

template, store, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = json.load(open(template))
runs = os.path.join(store, "runs")
os.makedirs(runs, exist_ok=True)
rng = random.Random(7)
t0 = 1_764_000_000.0
nmetrics = max(2, min(5, int(os.environ.get("GEN_METRICS", "2"))))
npoints = max(1, int(os.environ.get("GEN_POINTS", "30")))
extra = ["grad_norm", "lr_now", "throughput"][: nmetrics - 2]


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


statuses = ["success"] * 85 + ["failed"] * 10 + ["cancelled"] * 5
for i in range(1, n + 1):
    rid = "rp_%04d" % i
    d = os.path.join(runs, rid)
    os.mkdir(d)
    r = dict(base)
    lr = rng.choice([0.1, 0.03, 0.01, 0.003, 0.001, 0.0003])
    status = rng.choice(statuses)
    loss = round(rng.uniform(0.05, 2.0), 4)
    acc = round(rng.uniform(0.5, 0.99), 4)
    created = t0 + i * 60
    r.update(id=rid, uid=str(uuid.UUID(int=rng.getrandbits(128), version=4)), name="sweep-%d" % (i % 50),
             status=status, reason=None if status == "success" else ("exit" if status == "failed" else "cancelled"),
             created_at=rfc3339(created), started_at=rfc3339(created + 0.01), ended_at=rfc3339(created + 30),
             duration_s=30.0,
             exit_code=0 if status == "success" else 1, signal=None,
             params={"lr": lr, "batch_size": rng.choice([32, 64, 128]), "opt": rng.choice(["adam", "sgd"]), "seed": i},
             tags=["sweep"] + (["baseline"] if i % 100 == 0 else []),
             metrics={"loss": {"last": loss, "min": loss, "max": 2.5, "count": npoints, "last_step": npoints - 1},
                      "val_acc": {"last": acc, "min": 0.1, "max": acc, "count": npoints, "last_step": npoints - 1}})
    for m in extra:
        r["metrics"][m] = {"last": 1.0, "min": 0.5, "max": 1.5, "count": npoints, "last_step": npoints - 1}
    r["paths"] = {k: v.replace(base["id"], rid) if isinstance(v, str) else v for k, v in base.get("paths", {}).items()}
    with open(os.path.join(d, "run.json"), "w") as f:
        json.dump(r, f, indent=2)
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        for s in range(npoints):
            f.write('{"name":"loss","step":%d,"value":%s,"time":%.3f,"source":"log"}\n'
                    % (s, round(loss + (npoints - 1 - s) * 1.5 / npoints, 6), created + s))
            f.write('{"name":"val_acc","step":%d,"value":%s,"time":%.3f,"source":"log"}\n'
                    % (s, round(acc * (s + 1) / npoints, 6), created + s))
            for m in extra:
                f.write('{"name":"%s","step":%d,"value":%s,"time":%.3f,"source":"log"}\n'
                        % (m, s, round(1.0 + 0.5 * ((s * 7919 + i) % 100 - 50) / 50, 6), created + s))
    with open(os.path.join(d, "logs.txt"), "w") as f:
        f.write("epoch: 29 loss: %s val_acc: %s\n" % (loss, acc))
with open(os.path.join(runs, ".last_id"), "w") as f:
    f.write("%d\n" % n)
