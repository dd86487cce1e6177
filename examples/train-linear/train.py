"""Fit y = w·x + b by full-batch gradient descent on generated data (no third-party packages).

Params come from the environment RunPilot sets (RUNPILOT_PARAM_*), or from params.json in
$RUNPILOT_RUN_DIR; the model goes to $RUNPILOT_OUTPUT_DIR/model.json.
"""
import json
import os
import random


def param(name, default, kind):
    value = os.environ.get("RUNPILOT_PARAM_" + name.upper())
    return kind(value) if value is not None else default


def make_data(n, seed, true_w, true_b):
    rng = random.Random(seed)
    xs = [[rng.uniform(-1, 1) for _ in true_w] for _ in range(n)]
    ys = [sum(w * x for w, x in zip(true_w, row)) + true_b + rng.gauss(0, 0.05) for row in xs]
    return xs, ys


def train(xs, ys, lr, epochs):
    dims = len(xs[0])
    w, b = [0.0] * dims, 0.0
    n = len(xs)
    for epoch in range(1, epochs + 1):
        grad_w, grad_b, loss = [0.0] * dims, 0.0, 0.0
        for row, y in zip(xs, ys):
            err = sum(wi * xi for wi, xi in zip(w, row)) + b - y
            loss += err * err
            for i in range(dims):
                grad_w[i] += 2 * err * row[i] / n
            grad_b += 2 * err / n
        w = [wi - lr * g for wi, g in zip(w, grad_w)]
        b -= lr * grad_b
        print(f"epoch: {epoch} loss: {loss / n:.6f}")
    return w, b, loss / n


def main():
    lr = param("learning_rate", 0.05, float)
    epochs = param("epochs", 30, int)
    samples = param("samples", 2000, int)
    seed = param("seed", 7, int)
    true_w, true_b = [2.0, -3.0, 0.5], 1.0
    xs, ys = make_data(samples, seed, true_w, true_b)
    w, b, loss = train(xs, ys, lr, epochs)
    out_dir = os.environ.get("RUNPILOT_OUTPUT_DIR", ".")
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump({"w": w, "b": b, "final_loss": loss, "epochs": epochs}, f, indent=2)
    print(f"final loss {loss:.6f}; model written to {out_dir}/model.json")


if __name__ == "__main__":
    main()
