"""Runs the cases of @tapegrad/nn's PyTorch parity tests (packages/nn/test/torch-parity-*.test.ts) in real
PyTorch and writes torch's results back, so the tests can hold tapegrad to them.

Usage: /usr/bin/python3 scripts/parity/torch_parity.py DIR
  DIR/cases.json lists the cases ({"cases": [{"name", "op", ...}]}). For case NAME the test wrote
  NAME.params.safetensors (the model, with tapegrad's own `save`) and NAME.inputs.safetensors; this
  script writes NAME.torch.safetensors (outputs, final states, loss, every parameter and input grad)
  and, for the cases with "torchInit" (torch draws the weights, seeded by "seed", and tapegrad loads
  them), NAME.torch_params.safetensors: torch's own state_dict.

safetensors is read and written here by hand with numpy (an 8-byte little-endian header length, a JSON
header, then the raw little-endian data; https://github.com/huggingface/safetensors, "Format"): the
`safetensors` package is not installed, and reading by hand keeps the test honest about the format.
Needs torch (Debian's python3-torch: 1.13) and numpy, so /usr/bin/python3 rather than pyenv's.
"""
import json
import pathlib
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)  # the tests share a small machine

NUMPY = {"F32": "<f4", "F64": "<f8"}
CODE = {np.dtype("float32"): "F32", np.dtype("float64"): "F64"}
TORCH = {"float32": torch.float32, "float64": torch.float64}
DIRECTORY = pathlib.Path(".")  # set by main


def read_safetensors(path):
    """name -> torch tensor (a copy), from the bytes of a safetensors file."""
    data = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=NUMPY[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))
    return out


def write_safetensors(path, tensors):
    """Writes name -> tensor (float32 or float64) as the reference writer lays it out: tensors sorted by
    dtype (larger first) then name, compact JSON padded with spaces to a multiple of 8."""
    arrays = {name: t.detach().cpu().numpy() for name, t in tensors.items()}
    items = sorted(arrays.items(), key=lambda kv: (-kv[1].dtype.itemsize, kv[0]))
    header, chunks, offset = {}, [], 0
    for name, array in items:
        code = CODE[array.dtype]
        raw = np.ascontiguousarray(array, dtype=NUMPY[code]).tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    pathlib.Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def loaded(module, case, params):
    """The module with tapegrad's weights (strictly), or, for a torchInit case, with torch's own
    reset_parameters under the case's seed, its state_dict written for tapegrad to load."""
    if case.get("torchInit"):
        torch.manual_seed(case["seed"])
        module.reset_parameters()
        write_safetensors(DIRECTORY / f"{case['name']}.torch_params.safetensors", module.state_dict())
    else:
        module.load_state_dict(params, strict=True)
    return module


def leaf(t):
    return t.clone().requires_grad_(True)


def recurrent_module(case):
    kind, dtype = case["kind"], TORCH[case["dtype"]]
    args = dict(input_size=case["inputSize"], hidden_size=case["hiddenSize"], num_layers=case["numLayers"],
                bias=case["bias"], batch_first=case["batchFirst"], dtype=dtype)
    if kind == "lstm":
        return torch.nn.LSTM(**args)
    if kind == "gru":
        return torch.nn.GRU(**args)
    return torch.nn.RNN(nonlinearity=case["nonlinearity"], **args)


def run_recurrent(module, case, inputs):
    """Forward and backward of sum(output·g_out) + sum(h_n·g_h) (+ sum(c_n·g_c)); the results by name."""
    x = leaf(inputs["x"])
    state = {k: leaf(inputs[k]) for k in ("h0", "c0") if k in inputs}
    if case["kind"] == "lstm":
        output, (h_n, c_n) = module(x, (state["h0"], state["c0"]) if state else None)
        finals = {"h_n": h_n, "c_n": c_n}
    else:
        output, h_n = module(x, state.get("h0"))
        finals = {"h_n": h_n}
    loss = (output * inputs["g_out"]).sum() + (h_n * inputs["g_h"]).sum()
    if "c_n" in finals:
        loss = loss + (finals["c_n"] * inputs["g_c"]).sum()
    loss.backward()
    out = {"output": output, "loss": loss, **finals, "grad.x": x.grad}
    out.update({f"grad.{k}": v.grad for k, v in state.items()})
    out.update({f"grad.{k}": p.grad for k, p in module.named_parameters()})
    return out


def recurrent(case, params, inputs):
    return run_recurrent(loaded(recurrent_module(case), case, params), case, inputs)


def linear(case, params, inputs):
    module = torch.nn.Linear(case["inFeatures"], case["outFeatures"], bias=case["bias"],
                             dtype=TORCH[case["dtype"]])
    module = loaded(module, case, params)
    x = leaf(inputs["x"])
    y = module(x)
    loss = (y * inputs["g"]).sum()
    loss.backward()
    return {"y": y, "loss": loss, "grad.x": x.grad, **{f"grad.{k}": p.grad for k, p in module.named_parameters()}}


def embedding(case, params, inputs):
    module = loaded(torch.nn.Embedding(case["numEmbeddings"], case["embeddingDim"], dtype=TORCH[case["dtype"]]),
                    case, params)
    y = module(inputs["indices"].long())
    loss = (y * inputs["g"]).sum()
    loss.backward()
    return {"y": y, "loss": loss, "grad.weight": module.weight.grad}


def cross_entropy(case, params, inputs):
    logits = leaf(inputs["logits"])
    loss = F.cross_entropy(logits, inputs["targets"].long(), reduction=case["reduction"])
    loss.backward()
    return {"loss": loss, "grad.logits": logits.grad}


def mse(case, params, inputs):
    prediction, target = leaf(inputs["prediction"]), leaf(inputs["target"])
    loss = F.mse_loss(prediction, target, reduction=case["reduction"])
    loss.backward()
    return {"loss": loss, "grad.prediction": prediction.grad, "grad.target": target.grad}


def linear_mse_model(case, params):
    module = torch.nn.Linear(case["inFeatures"], case["outFeatures"], dtype=TORCH[case["dtype"]])
    module.load_state_dict(params, strict=True)
    return module


def optimizer_of(case, parameters):
    if case["op"] == "sgd":
        return torch.optim.SGD(parameters, lr=case["lr"], momentum=case["momentum"], dampening=case["dampening"],
                               nesterov=case["nesterov"], weight_decay=case["weightDecay"])
    return torch.optim.Adam(parameters, lr=case["lr"], betas=tuple(case["betas"]), eps=case["eps"],
                            weight_decay=case["weightDecay"])


def optimize(case, params, inputs):
    """`steps` steps of zero_grad, mse(linear(x), target), backward, step; the final weights, each step's
    loss, and the optimizer's buffers (keyed `state.<index>.<slot>` as tapegrad's optimizer stateDict)."""
    module = linear_mse_model(case, params)
    parameters = list(module.parameters())
    optimizer = optimizer_of(case, parameters)
    losses = []
    for _ in range(case["steps"]):
        optimizer.zero_grad()
        loss = F.mse_loss(module(inputs["x"]), inputs["target"])
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    out = {"losses": torch.stack(losses), **{f"param.{k}": p for k, p in module.named_parameters()}}
    for i, p in enumerate(parameters):
        for slot, value in optimizer.state[p].items():
            if slot != "step" and value is not None:  # SGD keeps a None buffer without momentum
                out[f"state.{i}.{slot}"] = value
    return out


def clip_grad_norm(case, params, inputs):
    module = linear_mse_model(case, params)
    F.mse_loss(module(inputs["x"]), inputs["target"]).backward()
    before = {f"before.{k}": p.grad.clone() for k, p in module.named_parameters()}
    total = torch.nn.utils.clip_grad_norm_(module.parameters(), case["maxNorm"], norm_type=float(case["normType"]))
    return {"total": total, **before, **{f"grad.{k}": p.grad for k, p in module.named_parameters()}}


CASES = {"recurrent": recurrent, "linear": linear, "embedding": embedding, "cross_entropy": cross_entropy,
         "mse": mse, "sgd": optimize, "adam": optimize, "clip_grad_norm": clip_grad_norm}


def main(directory):
    global DIRECTORY
    DIRECTORY = directory = pathlib.Path(directory)
    cases = json.loads((directory / "cases.json").read_text())["cases"]
    for case in cases:
        name = case["name"]
        inputs = read_safetensors(directory / f"{name}.inputs.safetensors")
        params_path = directory / f"{name}.params.safetensors"
        params = read_safetensors(params_path) if params_path.exists() else {}
        try:
            out = CASES[case["op"]](case, params, inputs)
        except Exception as error:
            raise RuntimeError(f"case {name}: {error}") from error
        write_safetensors(directory / f"{name}.torch.safetensors", out)
    versions = {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__}
    (directory / "versions.json").write_text(json.dumps(versions))


if __name__ == "__main__":
    main(sys.argv[1])
