// The activations the vision towers use, chosen by their Hugging Face names
// (ACT2FN keys) so configs map onto them directly.
#pragma once

#include <string_view>

#include "common/status.h"
#include "tensor/tensor.h"

namespace eric::nn {

enum class Activation { kQuickGelu, kGeluErf, kGeluTanh, kSilu };

// "quick_gelu", "gelu", "gelu_pytorch_tanh" / "gelu_new", "silu" / "swish".
Result<Activation> activation_from_name(std::string_view name);
std::string_view activation_name(Activation a);
Status apply_activation_(Tensor& x, Activation a);

}  // namespace eric::nn
