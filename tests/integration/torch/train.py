# A small MLP trained on random data with DataLoader worker processes: what an ML job does
# under the sandbox's seccomp filter (threads, shared memory, worker processes, NUMA queries).
import os
import torch
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
x = torch.randn(512, 16)
y = (x.sum(dim=1, keepdim=True) > 0).float()
loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, num_workers=2)
model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = torch.nn.BCEWithLogitsLoss()
for epoch in range(3):
    total = 0.0
    for xb, yb in loader:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        total += loss.item()
    print(f"epoch: {epoch} loss: {total / len(loader):.4f}", flush=True)
out = os.environ.get("RUNPILOT_OUTPUT_DIR", ".")
torch.save(model.state_dict(), os.path.join(out, "model.pt"))
print("threads", torch.get_num_threads(), "saved", flush=True)
