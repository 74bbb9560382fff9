# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DDP smoke job: train a tiny model on every rank, then write a hash of its parameters.

Every rank starts from a different random initialisation and sees different data: the parameters only
end identical if DistributedDataParallel broadcast rank 0's weights and averaged the gradients.
Writes <out>/rank-<rank>.json with the sha256 of the parameters, the losses and the time taken.
"""

import argparse
import hashlib
import json
import os
import socket
import struct
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--out', required=True)
    parser.add_argument('--steps', type=int, default=30)
    args = parser.parse_args()

    started = time.time()
    backend = os.environ.get('TRAINING_BACKEND', 'gloo')
    dist.init_process_group(backend=backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device('cpu')
    if backend == 'nccl':
        device = torch.device('cuda', int(os.environ.get('LOCAL_RANK', '0')))
        torch.cuda.set_device(device)

    torch.manual_seed(1234 + rank)  # a different initialisation per rank, on purpose
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1)).to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == 'cuda' else None)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05)
    data = torch.Generator().manual_seed(99 + rank)  # different data per rank
    losses = []
    for dummy in range(args.steps):
        x = torch.randn(32, 16, generator=data).to(device)
        y = x.sum(dim=1, keepdim=True)
        loss = torch.nn.functional.mse_loss(ddp(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))

    digest = hashlib.sha256()
    for param in model.parameters():
        values = param.detach().cpu().flatten().tolist()
        digest.update(struct.pack('<%dd' % len(values), *values))
    os.makedirs(args.out, exist_ok=True)
    result = {
        'rank': rank, 'world_size': world, 'backend': backend, 'host': socket.gethostname(),
        'sha256': digest.hexdigest(), 'loss_first': losses[0], 'loss_last': losses[-1], 'steps': args.steps,
        'seconds': round(time.time() - started, 3),
    }
    tmp = os.path.join(args.out, '.rank-%d.json' % rank)
    with open(tmp, 'w') as handle:
        json.dump(result, handle)
    os.replace(tmp, os.path.join(args.out, 'rank-%d.json' % rank))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
