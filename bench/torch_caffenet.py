#!/usr/bin/python3
"""CaffeNet in PyTorch on this machine, for the ratio in `make bench`'s note (developer-only).

Needs Debian's python3-torch (apt-get install python3-torch); the tests never call it.
Same network as xai_net_caffenet() (SPEC 3), random weights, batch 1 and 16: forward pass and
the input gradient (forward + backward to the input), median of N runs, ms per image.
    /usr/bin/python3 bench/torch_caffenet.py [--threads 2] [--runs 7]
"""
import argparse, statistics, time
import torch
import torch.nn as nn

def caffenet():
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True), nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True), nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True), nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(),
        nn.Linear(4096, 1000))

def timed(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = caffenet().eval()
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    for n in (1, 16):
        x = torch.randn(n, 3, 227, 227) * 60
        with torch.no_grad():
            fwd = timed(lambda: net(x), a.runs)
        def grad():
            xi = x.clone().requires_grad_(True)
            out = net(xi)
            out[:, 0].sum().backward()
        g = timed(grad, a.runs)
        print(f"batch {n:2d}: forward {fwd * 1e3 / n:8.2f} ms/image, input gradient {g * 1e3 / n:8.2f} ms/image")

if __name__ == "__main__":
    main()
