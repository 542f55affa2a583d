// Writes a tensor in PyTorch's torch.save format from C++ (no Python, no
// libtorch), as vLLM's --enable-mm-embeds payloads need: a STORED zip with
// archive/data.pkl (a protocol-2 pickle rebuilding the tensor through
// torch._utils._rebuild_tensor_v2 with a ('storage', torch.<T>Storage, '0',
// 'cpu', numel) persistent id), archive/data/0 (raw little-endian bytes),
// archive/version ("3\n") and archive/byteorder ("little"). Only opcodes and
// globals that torch.load(..., weights_only=True) allows are used.
#pragma once

#include <string>

#include "common/status.h"
#include "tensor/tensor.h"

namespace eric::delivery {

// float32, bfloat16, float16 and int64 (also int32, uint8, bool). The tensor
// is written contiguous.
Result<std::string> torch_save(const Tensor& tensor);

}  // namespace eric::delivery
