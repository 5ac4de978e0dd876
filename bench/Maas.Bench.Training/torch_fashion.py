"""PyTorch's side of the training benchmark: the network, optimiser, batch size, epochs and threads MaaS's side uses.

Reads the same Fashion-MNIST IDX files, trains on the CPU and prints one JSON object: seconds per epoch (training
only, as MaaS's side measures) and the test accuracy after the last epoch.
"""
import argparse
import gzip
import json
import struct
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--train-limit", type=int, default=0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train = torch.from_numpy(read_idx(f"{args.data}/train-images-idx3-ubyte.gz").astype(np.float32) / 255).unsqueeze(1)
    y_train = torch.from_numpy(read_idx(f"{args.data}/train-labels-idx1-ubyte.gz").astype(np.int64))
    x_test = torch.from_numpy(read_idx(f"{args.data}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255).unsqueeze(1)
    y_test = torch.from_numpy(read_idx(f"{args.data}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    if args.train_limit:
        x_train, y_train = x_train[:args.train_limit], y_train[:args.train_limit]

    # MaaS's default CNN: conv 3x3 (8, pad 1), ReLU, max-pool 2, conv 3x3 (16, pad 1), ReLU, max-pool 2, dense 64, ReLU, dense 10.
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))
    # ggml-opt's AdamW defaults: betas 0.9/0.999, eps 1e-8, no weight decay (PyTorch's AdamW would decay by 0.01).
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    loss_fn = nn.CrossEntropyLoss()
    batches = len(x_train) // args.batch  # a last partial batch is left out, as on MaaS's side
    epochs = []
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train))
        total = 0.0
        start, cpu = time.perf_counter(), time.process_time()
        for b in range(batches):
            rows = order[b * args.batch:(b + 1) * args.batch]
            optimiser.zero_grad()
            loss = loss_fn(model(x_train[rows]), y_train[rows])
            loss.backward()
            optimiser.step()
            total += loss.item()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        # CPU seconds (all of the process's threads) measure the work when a busy machine stretches the wall clock.
        epochs.append({"epoch": epoch + 1, "seconds": seconds, "cpu_seconds": cpu_seconds, "train_loss": total / batches, "images": batches * args.batch})

    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x_test[i:i + 1000]).argmax(1) == y_test[i:i + 1000]).sum()) for i in range(0, len(x_test), 1000))
    print(json.dumps({"torch": torch.__version__, "epochs": epochs, "test_accuracy": correct / len(x_test)}))


if __name__ == "__main__":
    main()
