"""How a run makes its process group, probed in a fresh process (one never leaks into the test's)."""

# The engine's train_run in a fresh process (a process group never leaks into this one), reporting how the process
# group was made: backend, device_id, and which GPU was current at that moment; and whether DDP wrapped the model.
DDP_PROBE = """
import json, sys
import torch
import torch.distributed as td
seen = {"backend": None, "device_id": None, "current_at_init": None, "ddp": False}
real_init = td.init_process_group
def init(backend=None, *a, **k):
    seen["backend"], seen["device_id"] = backend, str(k["device_id"]) if "device_id" in k else None
    seen["current_at_init"] = torch.cuda.current_device() if torch.cuda.is_available() else None
    return real_init(backend, *a, **k)
td.init_process_group = init
class CountingDDP(torch.nn.parallel.DistributedDataParallel):
    def __init__(self, *a, **k):
        seen["ddp"] = True
        super().__init__(*a, **k)
torch.nn.parallel.DistributedDataParallel = CountingDDP
from resnext_bench.engine.train import train_run
train_run(sys.argv[1], log=lambda m: print(m, file=sys.stderr))
print("RESULT " + json.dumps(seen))
"""
