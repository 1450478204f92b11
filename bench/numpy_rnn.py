"""The numpy contestant: the benchmark's iteration (forward over T steps, summed softmax cross-entropy,
backward to every parameter) with a hand-written backward, as numpy has no autodiff. A child of the
harness: JSON lines in on stdin, JSON lines out on stdout (see bench/src/child.ts).

Usage: python3 numpy_rnn.py '<workload as JSON>' <seed>
"""

import json
import os
import resource
import sys
import time

# One BLAS thread unless the caller says otherwise: the native reference the issue names.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

PARAM_NAMES = ["weightIh", "weightHh", "biasIh", "biasHh", "weightOut", "biasOut"]
GATES = {"lstm": 4, "rnn": 1, "gru": 3}


def make_problem(w, seed):
    """The same draws, in the same order, as makeProblem in bench/src/workloads.ts."""
    rng = np.random.RandomState(seed)
    G, H, I, O = GATES[w["cell"]] * w["hidden"], w["hidden"], w["input"], w["output"]
    shapes = {
        "weightIh": (G, I),
        "weightHh": (G, H),
        "biasIh": (G,),
        "biasHh": (G,),
        "weightOut": (O, H),
        "biasOut": (O,),
    }
    bound = 1 / np.sqrt(H)
    params = {n: rng.uniform(-bound, bound, shapes[n]).astype(np.float32) for n in PARAM_NAMES}
    inputs = rng.randn(w["steps"], w["batch"], I).astype(np.float32)
    targets = rng.randint(0, O, size=(w["steps"], w["batch"]))
    return params, inputs, targets


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_layer(p, x):
    """Forward over time; returns the hidden states and a backward of dh [T, B, H]."""
    T, B, _ = x.shape
    H = p["weightHh"].shape[1]
    xw = (x.reshape(T * B, -1) @ p["weightIh"].T + (p["biasIh"] + p["biasHh"])).reshape(T, B, 4 * H)
    h = np.zeros((B, H), np.float32)
    c = np.zeros((B, H), np.float32)
    hs, cs, acts, tcs = [h], [c], [], []
    for t in range(T):
        pre = xw[t] + h @ p["weightHh"].T
        i, f, o = sigmoid(pre[:, :H]), sigmoid(pre[:, H : 2 * H]), sigmoid(pre[:, 3 * H :])
        g = np.tanh(pre[:, 2 * H : 3 * H])
        c = f * c + i * g
        tc = np.tanh(c)
        h = o * tc
        hs.append(h)
        cs.append(c)
        acts.append((i, f, g, o))
        tcs.append(tc)

    def backward(dhs):
        d_gates = np.empty((T, B, 4 * H), np.float32)
        dh_next = np.zeros((B, H), np.float32)
        dc_next = np.zeros((B, H), np.float32)
        for t in reversed(range(T)):
            i, f, g, o = acts[t]
            dh = dhs[t] + dh_next
            # dc' = dc_next + dh·o·(1 - tanh²c'); then each gate through its activation
            dc = dc_next + dh * o * (1 - tcs[t] ** 2)
            dg = d_gates[t]
            dg[:, :H] = dc * g * i * (1 - i)
            dg[:, H : 2 * H] = dc * cs[t] * f * (1 - f)
            dg[:, 2 * H : 3 * H] = dc * i * (1 - g * g)
            dg[:, 3 * H :] = dh * tcs[t] * o * (1 - o)
            dh_next = dg @ p["weightHh"]
            dc_next = dc * f
        flat = d_gates.reshape(T * B, 4 * H)
        db = flat.sum(0)
        return {
            "weightIh": flat.T @ x.reshape(T * B, -1),
            "weightHh": flat.T @ np.stack(hs[:-1]).reshape(T * B, H),
            "biasIh": db,
            "biasHh": db.copy(),
        }

    return np.stack(hs[1:]), backward


def rnn_layer(p, x):
    T, B, _ = x.shape
    H = p["weightHh"].shape[1]
    xw = (x.reshape(T * B, -1) @ p["weightIh"].T + (p["biasIh"] + p["biasHh"])).reshape(T, B, H)
    hs = [np.zeros((B, H), np.float32)]
    for t in range(T):
        hs.append(np.tanh(xw[t] + hs[-1] @ p["weightHh"].T))

    def backward(dhs):
        d_pre = np.empty((T, B, H), np.float32)
        dh_next = np.zeros((B, H), np.float32)
        for t in reversed(range(T)):
            # d pre = dh·(1 - h'²)
            d_pre[t] = (dhs[t] + dh_next) * (1 - hs[t + 1] ** 2)
            dh_next = d_pre[t] @ p["weightHh"]
        flat = d_pre.reshape(T * B, H)
        db = flat.sum(0)
        return {
            "weightIh": flat.T @ x.reshape(T * B, -1),
            "weightHh": flat.T @ np.stack(hs[:-1]).reshape(T * B, H),
            "biasIh": db,
            "biasHh": db.copy(),
        }

    return np.stack(hs[1:]), backward


def gru_layer(p, x):
    T, B, _ = x.shape
    H = p["weightHh"].shape[1]
    xg_all = (x.reshape(T * B, -1) @ p["weightIh"].T + p["biasIh"]).reshape(T, B, 3 * H)
    hs, saved = [np.zeros((B, H), np.float32)], []
    for t in range(T):
        h, xg = hs[-1], xg_all[t]
        hg = h @ p["weightHh"].T + p["biasHh"]
        r = sigmoid(xg[:, :H] + hg[:, :H])
        z = sigmoid(xg[:, H : 2 * H] + hg[:, H : 2 * H])
        hn = hg[:, 2 * H :]
        n = np.tanh(xg[:, 2 * H :] + r * hn)
        hs.append((1 - z) * n + z * h)
        saved.append((r, z, n, hn))

    def backward(dhs):
        d_x = np.empty((T, B, 3 * H), np.float32)
        d_h = np.empty((T, B, 3 * H), np.float32)
        dh_next = np.zeros((B, H), np.float32)
        for t in reversed(range(T)):
            r, z, n, hn = saved[t]
            dh = dhs[t] + dh_next
            # dn = dh·(1-z)·(1-n²), dz = dh·(h-n)·z(1-z), dr = dn·hn·r(1-r), d hn = dn·r
            dn = dh * (1 - z) * (1 - n * n)
            dz = dh * (hs[t] - n) * z * (1 - z)
            dr = dn * hn * r * (1 - r)
            d_x[t, :, :H] = dr
            d_x[t, :, H : 2 * H] = dz
            d_x[t, :, 2 * H :] = dn
            d_h[t, :, : 2 * H] = d_x[t, :, : 2 * H]
            d_h[t, :, 2 * H :] = dn * r
            dh_next = dh * z + d_h[t] @ p["weightHh"]
        fx, fh = d_x.reshape(T * B, 3 * H), d_h.reshape(T * B, 3 * H)
        return {
            "weightIh": fx.T @ x.reshape(T * B, -1),
            "weightHh": fh.T @ np.stack(hs[:-1]).reshape(T * B, H),
            "biasIh": fx.sum(0),
            "biasHh": fh.sum(0),
        }

    return np.stack(hs[1:]), backward


LAYERS = {"lstm": lstm_layer, "rnn": rnn_layer, "gru": gru_layer}


def iteration(cell, p, x, targets):
    """Loss and grads of Σ_t Σ_b CE(h_t·W_outᵀ + b_out, target)."""
    T, B, _ = x.shape
    hs, layer_backward = LAYERS[cell](p, x)
    H = hs.shape[-1]
    flat_h = hs.reshape(T * B, H)
    logits = flat_h @ p["weightOut"].T + p["biasOut"]
    shifted = logits - logits.max(1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(1, keepdims=True))
    rows = np.arange(T * B)
    labels = targets.reshape(-1)
    loss = -(shifted[rows, labels] - log_z[:, 0]).sum()
    # d logits = softmax - onehot
    d_logits = np.exp(shifted - log_z)
    d_logits[rows, labels] -= 1
    grads = layer_backward((d_logits @ p["weightOut"]).reshape(T, B, H))
    grads["weightOut"] = d_logits.T @ flat_h
    grads["biasOut"] = d_logits.sum(0)
    return float(loss), grads


def main():
    workload, seed = json.loads(sys.argv[1]), int(sys.argv[2])
    params, inputs, targets = make_problem(workload, seed)
    cell = workload["cell"]
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    reply = lambda msg: print(json.dumps(msg), flush=True)  # noqa: E731
    reply({"ready": True, "describe": f"numpy {np.__version__}, hand-written backward, "
           f"OpenBLAS {os.environ['OPENBLAS_NUM_THREADS']} thread(s)", "baselineRss": base_rss})
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "check":
            loss, grads = iteration(cell, params, inputs, targets)
            reply({
                "loss": loss,
                "gradSums": {n: float(grads[n].sum(dtype=np.float64)) for n in PARAM_NAMES},
                "gradAbsSums": {n: float(np.abs(grads[n]).sum(dtype=np.float64)) for n in PARAM_NAMES},
            })
        elif msg["cmd"] == "time":
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(msg["iterations"]):
                iteration(cell, params, inputs, targets)
            reply({"ms": (time.perf_counter() - start) * 1000, "cpuMs": (time.process_time() - cpu) * 1000,
                   "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults})
        elif msg["cmd"] == "mark":
            reply({"ok": True})
        elif msg["cmd"] == "memory":
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            reply({"peakRss": peak, "baselineRss": base_rss, "heapGrowth": None})
        elif msg["cmd"] == "exit":
            return
        else:
            reply({"error": f"unknown command {msg['cmd']}"})


if __name__ == "__main__":
    main()
